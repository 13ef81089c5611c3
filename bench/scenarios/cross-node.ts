/**
 * cross-node: the chat load (16 pairs, both sending, window 4, closed loop) with each pair split over two
 * gateways joined through Redis, vs the same load on one gateway. Parley (memory store on every node; the
 * accounts and conversations are copied from node 1 to node 2, see servers/parley-node.ts) against bare
 * relays joined by the same @socket.io/redis-adapter, for both adapter settings: classic (PUBLISH/
 * PSUBSCRIBE) and sharded with subscriptionMode 'static' (SPUBLISH/SSUBSCRIBE, REDIS_ADAPTER=sharded).
 * Reported: delivered messages/s, the 2-node/1-node ratio of each system, and Parley/bare.
 *
 *   npm run bench -- cross-node [--quick]
 */
import { maxRate, type LoadResult } from '../lib/chat-load.js';
import { connectPairs, startBare, startParley, stopAll } from '../lib/deploy.js';
import { phases, type Context, type ScenarioReport, type SummaryRow } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { log, ratio } from '../lib/stats.js';

const PAIRS = 16;
const WINDOW = 4;

async function run(kind: 'parley' | 'bare', count: 1 | 2, adapter: 'classic' | 'sharded', phase: ReturnType<typeof phases>): Promise<LoadResult> {
  let nodes: ServerProcess[] = [];
  try {
    nodes = kind === 'parley' ? await startParley(count, { adapter }, 'parley') : await startBare(count, adapter);
    const pairs = await connectPairs(kind, nodes, PAIRS);
    const r = await maxRate(pairs.senders, WINDOW, phase, nodes);
    pairs.close();
    const errors = r.errors ? `, ${r.errors} errors (${r.firstError})` : '';
    log(`  ${kind} ${count} node${count > 1 ? `s (${adapter})` : ''}: ${r.rate} msg/s; CPU generator ${r.generatorCpu}% servers ${JSON.stringify(r.serverCpu)}${errors}`);
    return r;
  } finally {
    await stopAll(nodes);
  }
}

export async function crossNode(ctx: Context): Promise<ScenarioReport> {
  const phase = phases(ctx.quick);
  log(`cross-node: ${PAIRS} pairs split over 2 gateways vs 1, window ${WINDOW}; Parley on the memory store`);
  const bare1 = await run('bare', 1, 'classic', phase);
  const parley1 = await run('parley', 1, 'classic', phase);
  const rows: SummaryRow[] = [{ scenario: 'cross-node', measure: '1 node msg/s', parley: parley1.rate, baseline: bare1.rate, ratio: ratio(parley1.rate, bare1.rate), target: '', met: null }];
  const details: Record<string, unknown> = { pairs: PAIRS, windowPerSender: WINDOW, store: 'memory (records copied to node 2)', phase, bare1, parley1 };
  for (const adapter of ['classic', 'sharded'] as const) {
    const bare2 = await run('bare', 2, adapter, phase);
    const parley2 = await run('parley', 2, adapter, phase);
    const bareScale = ratio(bare2.rate, bare1.rate);
    const parleyScale = ratio(parley2.rate, parley1.rate);
    details[adapter] = { bare2, parley2, bareScale, parleyScale };
    rows.push(
      { scenario: `cross-node (${adapter})`, measure: '2 nodes msg/s', parley: parley2.rate, baseline: bare2.rate, ratio: ratio(parley2.rate, bare2.rate), target: '', met: null },
      // The target compares scaling: Parley's 2-node/1-node ratio against the bare relay's.
      { scenario: `cross-node (${adapter})`, measure: '2-node / 1-node', parley: parleyScale, baseline: bareScale, ratio: ratio(parleyScale ?? NaN, bareScale ?? NaN), target: '≥ bare', met: parleyScale !== null && bareScale !== null ? parleyScale >= bareScale : null },
    );
  }
  const cpu = (r: unknown) => (r as LoadResult).generatorCpu;
  const d = details as Record<'classic' | 'sharded', { bare2: LoadResult; parley2: LoadResult }>;
  rows.push({ scenario: 'cross-node', measure: 'generator CPU % (1; classic 2; sharded 2)', parley: `${parley1.generatorCpu}; ${cpu(d.classic.parley2)}; ${cpu(d.sharded.parley2)}`, baseline: `${bare1.generatorCpu}; ${cpu(d.classic.bare2)}; ${cpu(d.sharded.bare2)}`, ratio: null, target: '', met: null });
  return { name: 'cross-node', rows, details };
}
