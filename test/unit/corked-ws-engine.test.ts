import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'chai';
import { Server as IoServer, type Socket as IoSocket } from 'socket.io';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { WebSocket, WebSocketServer } from 'ws';
import { CorkedWebSocketServer, writableUntilBackedUp } from '../../server/gateway/corked-ws-engine.js';
import { eventually } from '../support/server.js';
import { countWrites } from '../support/socket-writes.js';

/** A WebSocket server of the given class that sends `frames` in one turn to the first client. */
async function sendInOneTurn(Engine: new (options: { noServer: true }) => WebSocketServer, frames: readonly string[]): Promise<{ writes: number; received: string[] }> {
  const http: Server = createServer();
  const wss = new Engine({ noServer: true });
  let counter = { calls: 0 };
  http.on('upgrade', (req, socket, head) => {
    counter = countWrites(socket as Socket);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const before = counter.calls;
      for (const frame of frames) ws.send(frame);
      // What the handshake itself wrote is not counted.
      counter.calls -= before;
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const received: string[] = [];
  await new Promise<void>((resolve) =>
    client.on('message', (data) => {
      received.push(String(data));
      if (received.length === frames.length) resolve();
    }),
  );
  client.close();
  wss.close();
  http.close();
  return { writes: counter.calls, received };
}

describe('CorkedWebSocketServer (the gateway’s wsEngine)', () => {
  const frames = ['first', 'second', 'third', 'fourth'];

  it('sends every frame written in one event-loop turn with one write, in order', async () => {
    const { writes, received } = await sendInOneTurn(CorkedWebSocketServer, frames);
    expect(received).to.deep.equal(frames);
    expect(writes).to.equal(1);
  });

  it('is measured against plain ws, which writes once per frame', async () => {
    const { writes, received } = await sendInOneTurn(WebSocketServer, frames);
    expect(received).to.deep.equal(frames);
    expect(writes).to.be.at.least(frames.length);
  });

  it('still writes frames of later turns promptly', async () => {
    const http: Server = createServer();
    const wss = new CorkedWebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send('now');
        setTimeout(() => ws.send('later'), 20);
      }),
    );
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    const arrivals: Array<{ text: string; at: number }> = [];
    const start = performance.now();
    await new Promise<void>((resolve) =>
      client.on('message', (data) => {
        arrivals.push({ text: String(data), at: performance.now() - start });
        if (arrivals.length === 2) resolve();
      }),
    );
    client.close();
    wss.close();
    http.close();
    expect(arrivals.map((a) => a.text)).to.deep.equal(['now', 'later']);
    expect(arrivals[1]!.at - arrivals[0]!.at).to.be.below(500);
  });
});

/**
 * A Socket.IO server on the gateway's engine (CorkedWebSocketServer), with or without
 * writableUntilBackedUp, and one websocket client of it.
 */
async function socketIoPair(keepWritable: boolean): Promise<{ server: IoSocket; client: ClientSocket; writes: { calls: number }; close(): void }> {
  const http: Server = createServer();
  let writes = { calls: 0 };
  http.prependListener('upgrade', (_req, socket: Socket) => {
    writes = countWrites(socket);
  });
  const io = new IoServer(http, { wsEngine: CorkedWebSocketServer, transports: ['websocket'] });
  if (keepWritable) writableUntilBackedUp(io.engine);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const connected = once(io, 'connection') as Promise<[IoSocket]>;
  const client = ioClient(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'] });
  const [server] = await connected;
  if (!client.connected) await new Promise((resolve) => client.once('connect', () => resolve(undefined)));
  return {
    server,
    client,
    get writes() {
      return writes;
    },
    close() {
      client.close();
      void io.close();
    },
  };
}

/** Resolves with the first `count` `msg` events the client gets. */
function receive(client: ClientSocket, count: number): Promise<unknown[]> {
  const got: unknown[] = [];
  return new Promise((resolve) =>
    client.on('msg', (m: unknown) => {
      got.push(m);
      if (got.length === count) resolve(got);
    }),
  );
}

describe('writableUntilBackedUp (engine.io transport under the corked engine)', () => {
  const events = ['one', 'two', 'three', 'four'];

  /** Emits `events` to one socket in one turn; the writes that took, and what the client got. */
  async function emitInOneTurn(keepWritable: boolean): Promise<{ writes: number; received: unknown[] }> {
    const pair = await socketIoPair(keepWritable);
    try {
      const got = receive(pair.client, events.length);
      const before = pair.writes.calls;
      for (const e of events) pair.server.emit('msg', e);
      const received = await got;
      return { writes: pair.writes.calls - before, received };
    } finally {
      pair.close();
    }
  }

  it('sends every event emitted to a socket in one turn with one write, in order', async () => {
    expect(await emitInOneTurn(true)).to.deep.equal({ writes: 1, received: events });
  });

  it('is measured against engine.io as it comes, which holds the later events for a second write', async () => {
    expect(await emitInOneTurn(false)).to.deep.equal({ writes: 2, received: events });
  });

  it('holds packets back in engine.io while a slow reader has a high-water mark queued, and loses none', async () => {
    const pair = await socketIoPair(true);
    try {
      const big = 'x'.repeat(20 * 1024);
      const got = receive(pair.client, 3);
      pair.server.emit('msg', big);
      expect(pair.server.conn.transport.writable).to.equal(false);
      pair.server.emit('msg', 'after');
      const buffered = (pair.server.conn as unknown as { writeBuffer: unknown[] }).writeBuffer;
      expect(buffered).to.have.length(1);
      pair.server.emit('msg', 'last');
      expect(await got).to.deep.equal([big, 'after', 'last']);
    } finally {
      pair.close();
    }
  });

  it('calls each packet’s sent callback once, in order, across batches', async () => {
    const pair = await socketIoPair(true);
    try {
      const got = receive(pair.client, events.length);
      const sent: string[] = [];
      // One engine.io packet per call, as socket.io writes them: each its own batch, with its callback.
      for (const e of events) pair.server.conn.send(`2${JSON.stringify(['msg', e])}`, {}, () => sent.push(e));
      expect(await got).to.deep.equal(events);
      await eventually(() => expect(sent).to.deep.equal(events));
    } finally {
      pair.close();
    }
  });
});
