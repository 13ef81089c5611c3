/**
 * Garbage collection under chat load: one server (Parley on the memory store, or the bare relay) with
 * `--trace-gc`, the chat scenario's 16 pairs, an optional max-rate phase first (so the heap holds a
 * history, as in the chat scenario's latency phase), then a fixed rate; prints the latency and a summary
 * of the collections inside the fixed-rate window: how many scavenges and how long they took, and each
 * full collection's pause and largest incremental-marking step.
 *
 *   npm run bench:gc                                   # Parley, max phase, then 12,000 msg/s for 10 s
 *   npm run bench:gc -- --server bare --rate 8000 --seconds 6 --no-max
 *   BENCH_SERVER_NODE_FLAGS='--max-semi-space-size=64' npm run bench:gc   # other V8 flags
 */
import { fixedRate, maxRate } from './lib/chat-load.js';
import { option } from './lib/cli.js';
import { connectPairs, fresh, parleyEnv, stopAll } from './lib/deploy.js';
import { pinGenerator } from './lib/pinning.js';
import { serverNodeFlags, setServerPrefix, startServer, type ServerProcess } from './lib/server-process.js';
import { log, round } from './lib/stats.js';

const PAIRS = 16;
const WINDOW = 4;

interface Collections {
  scavenges: number[];
  fullPauses: number[];
  biggestSteps: number[];
}

/** Reads one `--trace-gc` line into `into` (its main-thread pause, and a full collection's biggest step). */
function record(line: string, into: Collections): void {
  const m = /: (Scavenge|Mark-Compact)\b.*?MB, ([\d.]+) \/ /.exec(line);
  if (!m) return;
  const pause = Number(m[2]);
  if (m[1] === 'Scavenge') {
    into.scavenges.push(pause);
    return;
  }
  into.fullPauses.push(pause);
  const step = /biggest step ([\d.]+) ms/.exec(line);
  if (step) into.biggestSteps.push(Number(step[1]));
}

const kind = option('server', 'parley') === 'bare' ? 'bare' : 'parley';
const rate = Number(option('rate', '12000'));
const seconds = Number(option('seconds', '10'));
const pinning = pinGenerator(!process.argv.includes('--no-pin'));
setServerPrefix(pinning.serverPrefix);
log(`GC under chat load: ${kind}, ${PAIRS} pairs, ${rate} msg/s for ${seconds} s${process.argv.includes('--no-max') ? '' : ' after a max phase'}; ${pinning.description}; flags ${[...serverNodeFlags(), '--trace-gc'].join(' ')}`);

const inWindow: Collections = { scavenges: [], fullPauses: [], biggestSteps: [] };
let counting = false;
const options = { extraNodeFlags: ['--trace-gc'], onOutput: (line: string) => counting && record(line, inWindow) };
const env: Record<string, string> = kind === 'parley' ? { ...parleyEnv({ keyPrefix: fresh('k') }), NODE_ID: 'gc' } : { KEY_PREFIX: fresh('b'), REDIS_URL: '', REDIS_ADAPTER: 'classic' };
let servers: ServerProcess[] = [];
try {
  servers = [await startServer(kind, kind, env, undefined, options)];
  const pairs = await connectPairs(kind, servers, PAIRS);
  if (!process.argv.includes('--no-max')) {
    const max = await maxRate(pairs.senders, WINDOW, { warmupMs: 1000, measureMs: 4000 }, servers);
    log(`  max: ${max.rate} msg/s, heap ${JSON.stringify(max.serverHeapMiB)} MiB`);
  }
  const phase = { warmupMs: 500, measureMs: seconds * 1000 };
  const run = fixedRate(pairs.senders, WINDOW, rate, phase, servers);
  // The window opens after the warm-up; collections are counted from then on, to its end.
  setTimeout(() => (counting = true), phase.warmupMs);
  const r = await run;
  counting = false;
  log(`  @${rate}/s: ${r.rate} msg/s delivered, p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} p999 ${r.latencyMs.p999} ms, skipped ${r.skipped}; CPU server ${JSON.stringify(r.serverCpu)}%, heap ${JSON.stringify(r.serverHeapMiB)} MiB`);
  const sorted = [...inWindow.scavenges].sort((a, b) => a - b);
  const total = sorted.reduce((a, b) => a + b, 0);
  log(`  scavenges: ${sorted.length} (${round(sorted.length / seconds, 1)}/s), ${round(total, 0)} ms in all, median ${sorted[Math.floor(sorted.length / 2)] ?? '–'} ms, max ${sorted.at(-1) ?? '–'} ms`);
  log(`  full collections: ${inWindow.fullPauses.length}, pauses [${inWindow.fullPauses.join(', ')}] ms, biggest incremental steps [${inWindow.biggestSteps.join(', ')}] ms`);
  pairs.close();
} finally {
  await stopAll(servers);
}
process.exit(0);
