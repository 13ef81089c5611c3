import type { Socket } from 'node:net';

/**
 * Counts the syscall-level writes (`_write` / `_writev`) a TCP socket makes from now on: what the
 * per-turn corking (server/cork-per-turn.ts) is meant to reduce.
 */
export function countWrites(socket: Socket): { calls: number } {
  const counter = { calls: 0 };
  const raw = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = raw._write.bind(socket);
  const writev = raw._writev.bind(socket);
  raw._write = (...a) => {
    counter.calls++;
    write(...a);
  };
  raw._writev = (...a) => {
    counter.calls++;
    writev(...a);
  };
  return counter;
}
