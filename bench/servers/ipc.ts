/**
 * The child side of the bench's IPC: a server process under test answers `{ id, type, body }` requests
 * from the load generator with `{ id, ok, result | error }`, and reports its own memory and CPU time.
 */
export type Handlers = Record<string, (body: any) => unknown>;

export interface ProcessStats {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** CPU time of this process so far, µs. */
  cpuUser: number;
  cpuSystem: number;
}

/** Memory and CPU time of this process; with `gc`, after two full collections (needs --expose-gc). */
export async function processStats({ gc = false }: { gc?: boolean } = {}): Promise<ProcessStats> {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (gc && collect) {
    collect();
    await new Promise((r) => setTimeout(r, 50));
    collect();
  }
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, cpuUser: cpu.user, cpuSystem: cpu.system };
}

/** Answers requests on the IPC channel and announces readiness; exits when the parent goes away. */
export function serveRequests(handlers: Handlers, ready: Record<string, unknown>): void {
  if (!process.send) throw new Error('run through bench/lib/server-process.ts (needs an IPC channel)');
  process.on('message', (msg: { id: number; type: string; body?: unknown }) => {
    const handler = handlers[msg.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown request ${msg.type}`);
        return handler(msg.body ?? {});
      })
      .then(
        (result) => process.send!({ id: msg.id, ok: true, result }),
        (err: unknown) => process.send!({ id: msg.id, ok: false, error: String((err as Error)?.stack ?? err) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', ...ready });
}
