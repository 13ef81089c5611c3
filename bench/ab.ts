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
 *   npx tsx bench/ab.ts                       # working tree against HEAD
 *   npx tsx bench/ab.ts --base 7eb8aa4 --rate 3000 --rounds 5
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { fixedRate } from './lib/chat-load.js';
import { option } from './lib/cli.js';
import { connectPairs, fresh, parleyEnv, stopAll } from './lib/deploy.js';
import { pinGenerator } from './lib/pinning.js';
import { setServerPrefix, startServer, type ServerProcess } from './lib/server-process.js';
import { log } from './lib/stats.js';

const PAIRS = 16;
const WINDOW = 32;

const repo = fileURLToPath(new URL('..', import.meta.url));

/** Bundles `tree`'s bench server into this repo's bench/.build, so npm packages resolve from here. */
async function bundle(tree: string, out: string): Promise<string> {
  const outfile = join(repo, 'bench', '.build', out);
  await build({ entryPoints: [join(tree, 'bench', 'servers', 'parley-node.ts')], outfile, bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
  return outfile;
}

/** Median over rounds of Y's CPU per message divided by X's, X and Y running at once. */
async function compare(fileX: string, fileY: string, rate: number, rounds: number): Promise<number> {
  const env = (id: string) => ({ ...parleyEnv({ keyPrefix: fresh('k') }), NODE_ID: id });
  let servers: ServerProcess[] = [];
  try {
    servers = [await startServer('parley', 'X', env('X'), fileX), await startServer('parley', 'Y', env('Y'), fileY)];
    const [x, y] = servers as [ServerProcess, ServerProcess];
    const [px, py] = [await connectPairs('parley', [x], PAIRS), await connectPairs('parley', [y], PAIRS)];
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const phase = { warmupMs: 500, measureMs: 3000 };
      const [rx, ry] = await Promise.all([fixedRate(px.senders, WINDOW, rate, phase, [x]), fixedRate(py.senders, WINDOW, rate, phase, [y])]);
      const cx = (rx.serverCpu.X! / rx.rate) * 1e4;
      const cy = (ry.serverCpu.Y! / ry.rate) * 1e4;
      ratios.push(cy / cx);
      log(`  round ${i + 1}: X ${rx.rate} msg/s ${cx.toFixed(1)} µs/msg (p50 ${rx.latencyMs.p50}, p99 ${rx.latencyMs.p99} ms), Y ${ry.rate} msg/s ${cy.toFixed(1)} µs/msg (p50 ${ry.latencyMs.p50}, p99 ${ry.latencyMs.p99} ms), Y/X ${(cy / cx).toFixed(3)}`);
    }
    px.close();
    py.close();
    return ratios.sort((a, b) => a - b)[Math.floor(ratios.length / 2)]!;
  } finally {
    await stopAll(servers);
  }
}

const base = option('base', 'HEAD');
const rate = Number(option('rate', '3000'));
const rounds = Number(option('rounds', '5'));
const pinning = pinGenerator(!process.argv.includes('--no-pin'));
setServerPrefix(pinning.serverPrefix);
log(`A/B: A = ${base}, B = the working tree; ${PAIRS} pairs each at ${rate} msg/s, ${rounds} rounds per order; ${pinning.description}`);

const worktree = mkdtempSync(join(tmpdir(), 'parley-ab-'));
try {
  execFileSync('git', ['worktree', 'add', '--detach', '--force', worktree, base], { cwd: repo, stdio: 'ignore' });
  symlinkSync(join(repo, 'node_modules'), join(worktree, 'node_modules'));
  const [fileA, fileB] = [await bundle(worktree, 'ab-a.mjs'), await bundle(repo, 'ab-b.mjs')];
  log('order 1: X = A, Y = B');
  const bOverA = await compare(fileA, fileB, rate, rounds);
  log('order 2: X = B, Y = A');
  const aOverB = await compare(fileB, fileA, rate, rounds);
  const effect = Math.sqrt(bOverA / aOverB);
  log(`B/A CPU per message: ${effect.toFixed(3)} (order 1 median ${bOverA.toFixed(3)}, order 2 median of A/B ${aOverB.toFixed(3)}; second-place bias ${Math.sqrt(bOverA * aOverB).toFixed(3)})`);
} finally {
  execFileSync('git', ['worktree', 'remove', '--force', worktree], { cwd: repo, stdio: 'ignore' });
  rmSync(worktree, { recursive: true, force: true });
}
process.exit(0);
