import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'chai';
import { WebSocket, WebSocketServer } from 'ws';
import { CorkedWebSocketServer } from '../../server/gateway/corked-ws-engine.js';
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
