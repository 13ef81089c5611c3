import type { Duplex } from 'node:stream';

/**
 * Corks `socket` from its first write in an event-loop turn until that turn's end (setImmediate), so
 * everything written to it in one turn leaves in one `writev`. Under load one turn writes many frames or
 * commands to one socket (a group commit's messages and their acks to a client, their broadcasts to
 * Redis); sent one syscall each, they were a large share of a gateway's CPU. Nothing written waits
 * longer than the current turn.
 */
export function corkPerTurn(socket: Duplex): void {
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
