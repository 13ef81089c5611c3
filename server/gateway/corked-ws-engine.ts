import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';

/**
 * The WebSocket server under engine.io (its `wsEngine` option), with one change: a connection's TCP
 * socket is corked from its first write in an event-loop turn until that turn's end (setImmediate), so
 * every frame written to it in one turn leaves in one `writev`. Under load one turn writes many frames
 * to a socket (a group commit's messages, their acks); sent one syscall each they were a quarter of a
 * gateway's CPU. No frame waits longer than the current turn.
 */
export class CorkedWebSocketServer extends WebSocketServer {
  override handleUpgrade(...args: Parameters<WebSocketServer['handleUpgrade']>): void {
    corkPerTurn(args[1]);
    super.handleUpgrade(...args);
  }
}

function corkPerTurn(socket: Duplex): void {
  const write = socket.write;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = function (this: Duplex, ...args: Parameters<Duplex['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return write.apply(this, args);
  } as Duplex['write'];
}
