import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A reverse proxy in front of Parley that injects network faults for real: the client talks HTTP and
 * WebSocket to it, it forwards to the server.
 *
 * - `blockSocketIo(true)`: `/socket.io/*` is answered 403, plain requests and WebSocket upgrades alike,
 *   like a corporate proxy that lets HTTPS through but not WebSockets. `/v1/*` still passes.
 * - `loseResponses(n, match)`: the next n matching requests reach the server, but the client gets a 502
 *   instead of the answer (the write happened, the client cannot know).
 * - `holdDownstream()` / `releaseDownstream()`: server→client WebSocket bytes are held back (acks and
 *   events arrive late, all at once on release); client→server bytes still flow.
 */
export interface FaultProxy {
  readonly url: string;
  blockSocketIo(blocked: boolean): void;
  loseResponses(count: number, match: (req: IncomingMessage) => boolean): void;
  /** How many answers were lost so far. */
  readonly lostResponses: number;
  holdDownstream(): void;
  releaseDownstream(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { url: string }): Promise<FaultProxy> {
  const { hostname, port } = new URL(target.url);
  let blocked = false;
  let toLose = 0;
  let lost = 0;
  let loseMatch: (req: IncomingMessage) => boolean = () => false;
  let held = false;
  const heldChunks: { client: Duplex; chunk: Buffer }[] = [];
  const open = new Set<Duplex>();
  const track = (socket: Duplex) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  };
  const isSocketIo = (req: IncomingMessage) => (req.url ?? '').startsWith('/socket.io');

  const proxy: Server = createServer((req, res) => {
    if (blocked && isSocketIo(req)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('realtime connections are blocked here');
      return;
    }
    const lose = toLose > 0 && loseMatch(req);
    if (lose) toLose -= 1;
    const upstream = httpRequest({ host: hostname, port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (lose) {
        answer.resume();
        answer.on('end', () => {
          lost += 1;
          res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway (answer lost on purpose)');
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  proxy.on('connection', track);
  proxy.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    if (blocked && isSocketIo(req)) {
      client.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const upstream = tcpConnect(Number(port), hostname, () => {
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        if (held) heldChunks.push({ client, chunk });
        else client.write(chunk);
      });
      upstream.on('end', () => client.end());
    });
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');

  return {
    url: `http://127.0.0.1:${address.port}`,
    blockSocketIo(value) {
      blocked = value;
    },
    loseResponses(count, match) {
      toLose = count;
      loseMatch = match;
    },
    get lostResponses() {
      return lost;
    },
    holdDownstream() {
      held = true;
    },
    releaseDownstream() {
      held = false;
      for (const { client, chunk } of heldChunks.splice(0)) if (!client.destroyed) client.write(chunk);
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
