/**
 * The parent side of a server under test: spawns bench/servers/parley-node.ts or bare-relay.ts as its own
 * OS process (`node --expose-gc bench/.build/<server>.mjs`, behind `taskset` when pinning), waits for its
 * `ready`, and sends it requests over IPC (seed users, copy records, read memory/CPU, stop).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { ProcessStats } from '../servers/ipc.js';

export interface ServerProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly drivers: Record<string, string>;
  request<T = unknown>(type: string, body?: unknown, timeoutMs?: number): Promise<T>;
  stats(gc?: boolean): Promise<ProcessStats>;
  /** Asks the process to stop cleanly (bounded), then kills it. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

let serverPrefix: readonly string[] = [];
/** Every later spawn runs behind this prefix (e.g. ['taskset', '-c', '0']). */
export function setServerPrefix(prefix: readonly string[]): void {
  serverPrefix = prefix;
}

/** The current prefix, for other child processes that should run on the servers' cores. */
export function getServerPrefix(): readonly string[] {
  return serverPrefix;
}

export type ServerKind = 'parley' | 'bare';

const builds = new Map<ServerKind, Promise<string>>();

/**
 * The server's script as plain JavaScript, bundled by esbuild once per bench run into bench/.build/ (npm
 * packages stay imports, resolved from the repo's node_modules). Servers used to run through tsx, whose
 * loader and `keepNames` (a `__name` call for every named closure created) were about 3% of a
 * gateway's CPU under chat load, a cost production does not pay: it runs tsc's output.
 */
function script(kind: ServerKind): Promise<string> {
  let built = builds.get(kind);
  if (!built) {
    const name = kind === 'parley' ? 'parley-node' : 'bare-relay';
    const outfile = fileURLToPath(new URL(`../.build/${name}.mjs`, import.meta.url));
    built = build({
      entryPoints: [fileURLToPath(new URL(`../servers/${name}.ts`, import.meta.url))],
      outfile,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: true,
      logLevel: 'warning',
    }).then(() => outfile);
    builds.set(kind, built);
  }
  return built;
}

/** Optional extras of startServer. */
export interface StartOptions {
  /** Runs behind the usual flags (BENCH_SERVER_NODE_FLAGS or the Procfile's), e.g. ['--trace-gc']. */
  readonly extraNodeFlags?: readonly string[];
  /** Gets the server's stdout line by line instead of this process's stdout. */
  readonly onOutput?: (line: string) => void;
}

/**
 * Node's flags for every server: the V8 flags the Procfile gives gateways (young-generation size, no
 * allocation-site pretenuring), for Parley and the bare relay alike; BENCH_SERVER_NODE_FLAGS overrides
 * them (e.g. '' for Node's defaults, for an A/B).
 */
export function serverNodeFlags(): string[] {
  return (process.env.BENCH_SERVER_NODE_FLAGS ?? '--max-semi-space-size=32 --no-allocation-site-pretenuring').split(' ').filter(Boolean);
}

/** `prebuilt`: a bundled server script to run instead of this tree's (bench/ab.ts runs another commit's). */
export async function startServer(kind: ServerKind, name: string, env: Record<string, string>, prebuilt?: string, options: StartOptions = {}): Promise<ServerProcess> {
  const file = prebuilt ?? (await script(kind));
  // BENCH_CPU_PROF=<dir>: each server writes a V8 CPU profile there when it stops (open it in Chrome
  // DevTools or speedscope for a flame graph).
  const profileDir = process.env.BENCH_CPU_PROF;
  const nodeArgs = [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...serverNodeFlags(), ...(options.extraNodeFlags ?? []), '--expose-gc', file];
  const [cmd, ...args] = serverPrefix.length > 0 ? [...serverPrefix, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs];
  const child = spawn(cmd!, args, {
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', options.onOutput ? 'pipe' : 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  live.add(child);
  if (options.onOutput && child.stdout) createInterface({ input: child.stdout }).on('line', options.onOutput);
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      for (const p of pending.values()) p.reject(new Error(`${name} exited (${code ?? signal})`));
      resolve();
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 60 s`)), 60_000);
    void exited.then(() => reject(new Error(`${name} exited before it was ready`)));
    child.on('message', (msg: any) => {
      if (msg?.type === 'ready') {
        clearTimeout(timer);
        const request = <T>(type: string, body?: unknown, timeoutMs = 120_000): Promise<T> =>
          new Promise<T>((res, rej) => {
            const id = ++nextId;
            const t = setTimeout(() => {
              pending.delete(id);
              rej(new Error(`${name}: ${type} timed out`));
            }, timeoutMs);
            pending.set(id, {
              resolve: (v) => {
                clearTimeout(t);
                res(v);
              },
              reject: (e) => {
                clearTimeout(t);
                rej(e);
              },
            });
            child.send({ id, type, body });
          });
        resolve({
          name,
          url: msg.url,
          pid: child.pid!,
          drivers: msg.drivers ?? {},
          request,
          stats: (gc = false) => request<ProcessStats>('stats', { gc }),
          async stop() {
            await Promise.race([request('stop', {}, 15_000).catch(() => undefined), exited]);
            // A server that exits by itself after stopping (parley-node) gets a moment to write its profile.
            await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
            child.kill('SIGKILL');
            await exited;
          },
        });
        return;
      }
      const p = pending.get(msg?.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${name}: ${msg.error}`));
    });
  });
}
