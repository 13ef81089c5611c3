/**
 * chat: pairs of clients (both sending, 100-byte texts, a bounded window each) end to end — send → stored →
 * ack → `message:new` at the recipient — on one Parley gateway with the memory store, and with the MongoDB
 * server (FerretDB here), against the bare Socket.IO relay with the same clients. Per system: delivered
 * messages/s at the max (closed loop, window 4 per sender), then p50/p99/p999 latency in an open loop
 * (window 32 per sender) at half of that Parley variant's max — the bare relay is run at the same rate,
 * so the latency ratio compares equal loads, and in turns with Parley (five rounds of a fifth of the
 * window each, fixedRateInTurns), so that both meet the same spells of this machine's drifting speed.
 *
 *   npm run bench -- chat [--quick]
 */
import { fixedRateInTurns, maxRate, type LoadResult } from '../lib/chat-load.js';
import { connectPairs, dropDatabase, freshMongoUri, MONGODB_LABEL, startBare, startParley, stopAll } from '../lib/deploy.js';
import { phases, type Context, type ScenarioReport, type SummaryRow } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { log, ratio } from '../lib/stats.js';

const PAIRS = 16;
/** In flight per sender at the max rate (closed loop). */
const WINDOW = 4;
/**
 * In flight per sender in the open loop: larger, so that a stall of the (shared, noisy) machine shows as
 * latency rather than as skipped sends; still bounded.
 */
const FIXED_WINDOW = 32;
/** Rounds of the latency phase: Parley and the relay take turns, each loaded for a fifth of the window. */
const TURNS = 5;

function describe(label: string, r: LoadResult): void {
  const lat = r.mode === 'fixed' ? ` p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} p999 ${r.latencyMs.p999} ms (ack p99 ${r.ackLatencyMs.p99}), skipped ${r.skipped}` : '';
  const errors = r.errors ? `, ${r.errors} errors (${r.firstError})` : '';
  log(`  ${label} ${r.mode === 'max' ? 'max' : `@${r.offeredRate}/s`}: ${r.rate} msg/s delivered${lat}; CPU generator ${r.generatorCpu}% server ${JSON.stringify(r.serverCpu)}, heap MiB ${JSON.stringify(r.serverHeapMiB)}${errors}`);
}

export async function chat(ctx: Context): Promise<ScenarioReport> {
  const phase = phases(ctx.quick);
  const details: Record<string, unknown> = { pairs: PAIRS, senders: PAIRS * 2, windowPerSender: WINDOW, fixedRateWindowPerSender: FIXED_WINDOW, fixedRateTurns: TURNS, textBytes: 100, phase };
  const rows: SummaryRow[] = [];

  log(`chat: bare relay, ${PAIRS} pairs, window ${WINDOW} per sender`);
  const bare = await startBare(1);
  const barePairs = await connectPairs('bare', bare, PAIRS);
  const bareMax = await maxRate(barePairs.senders, WINDOW, phase, bare);
  describe('bare', bareMax);
  details.bareMax = bareMax;

  // BENCH_CHAT_STORES=memory skips FerretDB (for quick iterations on the memory-store figures).
  const stores = (['memory', 'mongodb'] as const).filter((s) => (process.env.BENCH_CHAT_STORES ?? 'memory,mongodb').split(',').includes(s));
  for (const store of stores) {
    const label = store === 'memory' ? 'memory store' : `MongoDB = ${MONGODB_LABEL}`;
    log(`chat: Parley, ${label}`);
    const mongodbUri = store === 'mongodb' ? freshMongoUri() : undefined;
    let nodes: ServerProcess[] = [];
    try {
      nodes = await startParley(1, { mongodbUri }, 'parley');
      const pairs = await connectPairs('parley', nodes, PAIRS);
      const max = await maxRate(pairs.senders, WINDOW, phase, nodes);
      describe('parley', max);
      const rate = Math.max(10, Math.round(max.rate / 2));
      const [fixed, bareFixed] = await fixedRateInTurns(
        [
          { senders: pairs.senders, servers: nodes },
          { senders: barePairs.senders, servers: bare },
        ],
        FIXED_WINDOW,
        rate,
        phase,
        TURNS,
      );
      describe('parley', fixed);
      describe('bare', bareFixed);
      pairs.close();
      await stopAll(nodes);
      nodes = [];
      details[store] = { store: label, max, fixed, bareFixed };
      const s = `chat (${store === 'memory' ? 'memory' : 'FerretDB'})`;
      const tputRatio = ratio(max.rate, bareMax.rate);
      const p99Ratio = ratio(fixed.latencyMs.p99, bareFixed.latencyMs.p99);
      rows.push(
        { scenario: s, measure: 'delivered msg/s (max)', parley: max.rate, baseline: bareMax.rate, ratio: tputRatio, target: store === 'memory' ? '≥ 0.5' : '', met: store === 'memory' ? (tputRatio ?? 0) >= 0.5 : null },
        { scenario: s, measure: `p50 ms @ ${rate}/s`, parley: fixed.latencyMs.p50, baseline: bareFixed.latencyMs.p50, ratio: ratio(fixed.latencyMs.p50, bareFixed.latencyMs.p50), target: '', met: null },
        { scenario: s, measure: `p99 ms @ ${rate}/s`, parley: fixed.latencyMs.p99, baseline: bareFixed.latencyMs.p99, ratio: p99Ratio, target: store === 'memory' ? '≤ 2' : '', met: store === 'memory' ? (p99Ratio ?? Infinity) <= 2 : null },
        { scenario: s, measure: `p999 ms @ ${rate}/s`, parley: fixed.latencyMs.p999, baseline: bareFixed.latencyMs.p999, ratio: ratio(fixed.latencyMs.p999, bareFixed.latencyMs.p999), target: '', met: null },
        { scenario: s, measure: 'generator CPU % (max; fixed)', parley: `${max.generatorCpu}; ${fixed.generatorCpu}`, baseline: `${bareMax.generatorCpu}; ${bareFixed.generatorCpu}`, ratio: null, target: '', met: null },
      );
    } finally {
      await stopAll(nodes);
      if (mongodbUri) await dropDatabase(mongodbUri).catch((err) => log(`  could not drop ${mongodbUri}: ${String(err)}`));
    }
  }
  barePairs.close();
  await stopAll(bare);
  details.note = 'latency runs at half of each Parley variant\'s max rate, bare relay at the same rate, the two in turns';
  return { name: 'chat', rows, details };
}
