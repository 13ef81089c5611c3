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
