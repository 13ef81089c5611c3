/**
 * Zeroed memory outside the V8 heap that V8 does not count as external memory: a SharedArrayBuffer
 * (shared with no other thread). V8 counts an ArrayBuffer's bytes toward a limit that starts a full
 * collection for every 64 MiB they grow by; a history growing by ≈ 300 bytes per message hit it every
 * few seconds under chat load, and each collection's marking stalled the gateway for 10–25 ms, for memory
 * no collection can free (docs/benchmarks.md). A dropped buffer (a chunk, a page, an old index table)
 * is freed at the next full collection, which the heap's own growth brings.
 * `process.memoryUsage().arrayBuffers` still counts it.
 */
export function offHeap(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes);
}
