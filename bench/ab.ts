/**
 * A/B of Parley's CPU per chat message: the working tree (B) against a git ref (A, default HEAD), both
 * running at once, side by side on the servers' core, each with its own 16 client pairs at the same
 * fixed rate (memory store, the chat scenario's clients and payloads). Running them at the same time is
 * the point: this machine's speed drifts by tens of percent between runs a minute apart, and both
 * processes see the same drift. Each round measures both servers' CPU time over the same window; the
 * figure is the median of B's CPU per message over A's. Every comparison runs twice with the two
 * processes' places swapped (which one starts first moves the figure by a few percent by itself), and the
 * effect is the geometric mean of the two orders.
 *
 * With `--nodes 2` each side is two gateways joined through Redis (the classic adapter, or `--adapter
 * sharded`), each pair split over them as in the cross-node scenario, and a side's CPU is its nodes'.
 *
 * With `--max` the sides do not run at once: each runs alone at its maximum rate (closed loop, the chat
 * and cross-node scenarios' window of 4), A and B alternating (A B B A …) on fresh servers, and the
 * figures are the medians of each side's messages/s and CPU per message. Side by side at the maximum
 * would mislead: the cheaper side takes more of the shared core, so its batches grow and it gets cheaper
 * still. A fixed rate well under the maximum measures another regime (a message per event-loop turn).
 *
 *   npx tsx bench/ab.ts                       # working tree against HEAD
 *   npx tsx bench/ab.ts --base 7eb8aa4 --rate 3000 --rounds 5
 *   npx tsx bench/ab.ts --nodes 2 --max --rounds 4   # cross-node messages at the maximum
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { fixedRate, maxRate, type LoadResult } from './lib/chat-load.js';
import { option } from './lib/cli.js';
import { connectPairs, fresh, parleyEnv, stopAll } from './lib/deploy.js';
import { pinGenerator } from './lib/pinning.js';
import { setServerPrefix, startServer, type ServerProcess } from './lib/server-process.js';
import { log, median } from './lib/stats.js';

const PAIRS = 16;
const WINDOW = 32;
/** With --max: the chat and cross-node scenarios' closed-loop window per sender. */
const MAX_WINDOW = 4;

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Bundles `tree`'s bench server into this repo's bench/.build, so npm packages resolve from here. */
async function bundle(tree: string, out: string): Promise<string> {
  const outfile = join(repo, 'bench', '.build', out);
  await build({ entryPoints: [join(tree, 'bench', 'servers', 'parley-node.ts')], outfile, bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  return outfile;
}

/** One side's gateways: `nodes` of them from one bundle, joined through Redis when more than one. */
async function startSide(name: string, file: string): Promise<ServerProcess[]> {
  const env = parleyEnv({ keyPrefix: fresh('k'), redis: nodes > 1, adapter });
  const servers: ServerProcess[] = [];
  for (let i = 1; i <= nodes; i++) servers.push(await startServer('parley', nodes > 1 ? `${name}${i}` : name, { ...env, NODE_ID: `${name}${i}` }, file));
  return servers;
}

/** µs of the side's CPU (all its nodes') per delivered message. */
function cpuPerMessage(r: LoadResult): number {
  const cpu = Object.values(r.serverCpu).reduce((a, b) => a + b, 0);
  return (cpu / r.rate) * 1e4;
}

/** Median over rounds of Y's CPU per message divided by X's, X and Y running at once. */
async function compare(fileX: string, fileY: string, rate: number, rounds: number): Promise<number> {
  let x: ServerProcess[] = [];
  let y: ServerProcess[] = [];
  try {
    x = await startSide('X', fileX);
    y = await startSide('Y', fileY);
    const [px, py] = [await connectPairs('parley', x, PAIRS), await connectPairs('parley', y, PAIRS)];
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const phase = { warmupMs: 500, measureMs: 3000 };
      const [rx, ry] = await Promise.all([fixedRate(px.senders, WINDOW, rate, phase, x), fixedRate(py.senders, WINDOW, rate, phase, y)]);
      const cx = cpuPerMessage(rx);
      const cy = cpuPerMessage(ry);
      ratios.push(cy / cx);
      log(`  round ${i + 1}: X ${rx.rate} msg/s ${cx.toFixed(1)} µs/msg (p50 ${rx.latencyMs.p50}, p99 ${rx.latencyMs.p99} ms), Y ${ry.rate} msg/s ${cy.toFixed(1)} µs/msg (p50 ${ry.latencyMs.p50}, p99 ${ry.latencyMs.p99} ms), Y/X ${(cy / cx).toFixed(3)}`);
    }
    px.close();
    py.close();
    return median(ratios);
  } finally {
    await stopAll([...x, ...y]);
  }
}

/** One side alone at its maximum rate, on fresh servers. */
async function alone(name: string, file: string): Promise<LoadResult> {
  let servers: ServerProcess[] = [];
  try {
    servers = await startSide(name, file);
    const pairs = await connectPairs('parley', servers, PAIRS);
    const r = await maxRate(pairs.senders, MAX_WINDOW, { warmupMs: 3000, measureMs: 6000 }, servers);
    pairs.close();
    log(`  ${name}: ${r.rate} msg/s, ${cpuPerMessage(r).toFixed(1)} µs/msg (servers ${JSON.stringify(r.serverCpu)}, generator ${r.generatorCpu}%)`);
    return r;
  } finally {
    await stopAll(servers);
  }
}

async function alternate(fileA: string, fileB: string, rounds: number): Promise<void> {
  const results: Record<'A' | 'B', LoadResult[]> = { A: [], B: [] };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const side of order) results[side].push(await alone(side, side === 'A' ? fileA : fileB));
  }
  const rate = (side: 'A' | 'B') => median(results[side].map((r) => r.rate));
  const cpu = (side: 'A' | 'B') => median(results[side].map(cpuPerMessage));
  log(`A: ${rate('A')} msg/s, ${cpu('A').toFixed(1)} µs/msg; B: ${rate('B')} msg/s, ${cpu('B').toFixed(1)} µs/msg (medians of ${rounds})`);
  log(`B/A messages/s ${(rate('B') / rate('A')).toFixed(3)}, CPU per message ${(cpu('B') / cpu('A')).toFixed(3)}`);
}

const base = option('base', 'HEAD');
const rate = Number(option('rate', '3000'));
const rounds = Number(option('rounds', '5'));
const nodes = Number(option('nodes', '1'));
const adapter = option('adapter', 'classic') as 'classic' | 'sharded';
const max = process.argv.includes('--max');
const pinning = pinGenerator(!process.argv.includes('--no-pin'));
setServerPrefix(pinning.serverPrefix);
const where = nodes > 1 ? `${nodes} gateways a side (${adapter} adapter), pairs split over them` : 'one gateway a side';
const how = max ? `each side alone at its maximum, alternating, ${rounds} runs each` : `side by side at ${rate} msg/s each, ${rounds} rounds per order`;
log(`A/B: A = ${base}, B = the working tree; ${where}; ${PAIRS} pairs; ${how}; ${pinning.description}`);

const worktree = mkdtempSync(join(tmpdir(), 'parley-ab-'));
try {
  execFileSync('git', ['worktree', 'add', '--detach', '--force', worktree, base], { cwd: repo, stdio: 'ignore' });
  symlinkSync(join(repo, 'node_modules'), join(worktree, 'node_modules'));
  const [fileA, fileB] = [await bundle(worktree, 'ab-a.mjs'), await bundle(repo, 'ab-b.mjs')];
  if (max) {
    await alternate(fileA, fileB, rounds);
  } else {
    log('order 1: X = A, Y = B');
    const bOverA = await compare(fileA, fileB, rate, rounds);
    log('order 2: X = B, Y = A');
    const aOverB = await compare(fileB, fileA, rate, rounds);
    const effect = Math.sqrt(bOverA / aOverB);
    log(`B/A CPU per message: ${effect.toFixed(3)} (order 1 median ${bOverA.toFixed(3)}, order 2 median of A/B ${aOverB.toFixed(3)}; second-place bias ${Math.sqrt(bOverA * aOverB).toFixed(3)})`);
  }
} finally {
  execFileSync('git', ['worktree', 'remove', '--force', worktree], { cwd: repo, stdio: 'ignore' });
  rmSync(worktree, { recursive: true, force: true });
}
process.exit(0);
