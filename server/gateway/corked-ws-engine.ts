import type { Server as EngineServer, Socket as EngineSocket } from 'engine.io';
import { WebSocketServer } from 'ws';
import { corkPerTurn } from '../cork-per-turn.js';

/**
 * The WebSocket server under engine.io (its `wsEngine` option), with one change: a connection's TCP
 * socket is corked per event-loop turn (corkPerTurn), so every frame written to it in one turn leaves in
 * one `writev`. Under load one turn writes many frames to a socket (a group commit's messages, their
 * acks); sent one syscall each they were a quarter of a gateway's CPU.
 */
export class CorkedWebSocketServer extends WebSocketServer {
  override handleUpgrade(...args: Parameters<WebSocketServer['handleUpgrade']>): void {
    corkPerTurn(args[1]);
    super.handleUpgrade(...args);
  }
}

/** Bytes a connection may have queued for the network before engine.io holds packets back (net.Socket's default high-water mark). */
const HIGH_WATER_BYTES = 16 * 1024;

interface WebSocketTransport {
  readonly name: string;
  writable: boolean;
  send(packets: unknown[]): void;
  readonly socket?: { readonly bufferedAmount: number };
}

/**
 * engine.io's websocket transport takes no packet from the moment it hands a batch to ws until that
 * write's callback, which comes only after the bytes left, that is after the turn's corked `writev`. So
 * of the packets one turn sends to a socket, only the first batch joined the turn's writev; the rest
 * waited in engine.io's buffer and left in a second writev a turn later. Here the transport takes packets
 * again right after a batch, unless the connection already has a high-water mark's worth queued (a slow
 * reader): then engine.io buffers as before until the write's callback. Its callbacks and `drain` events
 * keep their order, one per batch.
 */
export function writableUntilBackedUp(engine: EngineServer): void {
  engine.on('connection', (socket: EngineSocket) => {
    keepWritable(socket.transport as unknown as WebSocketTransport);
    socket.on('upgrade', (transport: WebSocketTransport) => keepWritable(transport));
  });
}

function keepWritable(transport: WebSocketTransport): void {
  if (transport.name !== 'websocket') return;
  const send = transport.send;
  transport.send = function (this: WebSocketTransport, packets: unknown[]) {
    send.call(this, packets);
    if ((this.socket?.bufferedAmount ?? Infinity) < HIGH_WATER_BYTES) this.writable = true;
  };
}
