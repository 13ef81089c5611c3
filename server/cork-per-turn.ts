import type { Duplex } from 'node:stream';

/** How to uncork each socket corked since the last flush, in the order they were corked. */
let corked: Array<() => void> = [];

/**
 * Sends now what every corked socket holds, instead of at the end of the turn. The group commit calls
 * it once its commits have written their messages and acks (chat/message-batcher.ts).
 */
export function flushCorked(): void {
  const due = corked;
  corked = [];
  for (const uncork of due) uncork();
}

/**
 * Corks `socket` from its first write in an event-loop turn until that turn's end (setImmediate), so
 * everything written to it in one turn leaves in one `writev`. Under load one turn writes many frames or
 * commands to one socket (a group commit's messages and their acks to a client, their broadcasts to
 * Redis); sent one syscall each, they were a large share of a gateway's CPU. Nothing written waits
 * longer than the current turn; flushCorked sends it sooner.
 */
export function corkPerTurn(socket: Duplex): void {
  const write = socket.write;
  let isCorked = false;
  const uncork = (): void => {
    isCorked = false;
    socket.uncork();
  };
  socket.write = function (this: Duplex, ...args: Parameters<Duplex['write']>) {
    if (!isCorked) {
      isCorked = true;
      socket.cork();
      if (corked.push(uncork) === 1) setImmediate(flushCorked);
    }
    return write.apply(this, args);
  } as Duplex['write'];
}
