/**
 * cross-node: the chat load (16 pairs, both sending, window 4, closed loop) with each pair split over two
 * gateways joined through Redis, vs the same load on one gateway. Parley (memory store on every node; the
 * accounts and conversations are copied from node 1 to node 2, see servers/parley-node.ts) against bare
 * relays joined by the same @socket.io/redis-adapter, for both adapter settings: classic (PUBLISH/
 * PSUBSCRIBE) and sharded with subscriptionMode 'static' (SPUBLISH/SSUBSCRIBE, REDIS_ADAPTER=sharded).
 * Reported: delivered messages/s, the 2-node/1-node ratio of each system, and Parley/bare.
 *
 * The six deployments are measured in three rounds of a third of the window each, the order reversed
 * every other round; each stays up from its first round to the end, and each figure pools its rounds
 * (pooledMax). This machine's speed drifts by tens of percent within a minute, and the ratios compare
 * deployments that would otherwise be measured minutes apart.
 *
 *   npm run bench -- cross-node [--quick]
 */
import { maxRate, pooledMax, type LoadResult, type Phase } from '../lib/chat-load.js';
import { connectPairs, startBare, startParley, stopAll, type Pairs } from '../lib/deploy.js';
import { phases, type Context, type ScenarioReport, type SummaryRow } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { log, ratio } from '../lib/stats.js';

const PAIRS = 16;
const WINDOW = 4;
const ROUNDS = 3;

interface Deployment {
  readonly kind: 'parley' | 'bare';
  readonly count: 1 | 2;
  readonly adapter: 'classic' | 'sharded';
}

const key = (d: Deployment) => `${d.kind}${d.count}${d.count > 1 ? d.adapter : ''}`;

interface Live {
  readonly nodes: ServerProcess[];
  readonly pairs: Pairs;
}

async function deploy({ kind, count, adapter }: Deployment): Promise<Live> {
  const nodes = kind === 'parley' ? await startParley(count, { adapter }, 'parley') : await startBare(count, adapter);
  try {
    return { nodes, pairs: await connectPairs(kind, nodes, PAIRS) };
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }
}

async function measure({ kind, count, adapter }: Deployment, live: Live, phase: Phase): Promise<LoadResult> {
  const r = await maxRate(live.pairs.senders, WINDOW, phase, live.nodes);
  const errors = r.errors ? `, ${r.errors} errors (${r.firstError})` : '';
  log(`  ${kind} ${count} node${count > 1 ? `s (${adapter})` : ''}: ${r.rate} msg/s; CPU generator ${r.generatorCpu}% servers ${JSON.stringify(r.serverCpu)}${errors}`);
  return r;
}

/** Messages per CPU-second of the servers (all of a deployment's nodes). */
function perCpuSecond(r: LoadResult): number {
  const cores = Object.values(r.serverCpu).reduce((sum, cpu) => sum + cpu, 0) / 100;
  return r.rate / cores;
}

/** The 2-node/1-node ratio per CPU-second of the servers. */
function perCpuScale(two: LoadResult, one: LoadResult): number | null {
  return ratio(perCpuSecond(two), perCpuSecond(one));
}

export async function crossNode(ctx: Context): Promise<ScenarioReport> {
  const phase = phases(ctx.quick);
  log(`cross-node: ${PAIRS} pairs split over 2 gateways vs 1, window ${WINDOW}; Parley on the memory store; ${ROUNDS} rounds`);
  const deployments: Deployment[] = [
    { kind: 'bare', count: 1, adapter: 'classic' },
    { kind: 'parley', count: 1, adapter: 'classic' },
    ...(['classic', 'sharded'] as const).flatMap((adapter) => [
      { kind: 'bare', count: 2, adapter },
      { kind: 'parley', count: 2, adapter },
    ] as const),
  ];
  const windows = new Map<string, LoadResult[]>(deployments.map((d) => [key(d), []]));
  const live = new Map<string, Live>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const d of round % 2 === 0 ? deployments : [...deployments].reverse()) {
        // Each deployment starts in the first round and stays up (idle while the others run): a fresh one
        // gets the full warm-up, a second before each later window wakes it again.
        let deployment = live.get(key(d));
        if (!deployment) live.set(key(d), (deployment = await deploy(d)));
        const warmupMs = round === 0 ? phase.warmupMs : Math.min(phase.warmupMs, 1000);
        windows.get(key(d))!.push(await measure(d, deployment, { warmupMs, measureMs: phase.measureMs / ROUNDS }));
      }
    }
  } finally {
    for (const deployment of live.values()) deployment.pairs.close();
    await Promise.all([...live.values()].map((deployment) => stopAll(deployment.nodes)));
  }
  const result = (kind: Deployment['kind'], count: Deployment['count'], adapter: Deployment['adapter'] = 'classic') => pooledMax(windows.get(key({ kind, count, adapter }))!);
  const bare1 = result('bare', 1);
  const parley1 = result('parley', 1);
  log(`  pooled: bare 1 node ${bare1.rate} msg/s, parley 1 node ${parley1.rate} msg/s`);
  const rows: SummaryRow[] = [{ scenario: 'cross-node', measure: '1 node msg/s', parley: parley1.rate, baseline: bare1.rate, ratio: ratio(parley1.rate, bare1.rate), target: '', met: null }];
  const details: Record<string, unknown> = { pairs: PAIRS, windowPerSender: WINDOW, store: 'memory (records copied to node 2)', phase, rounds: ROUNDS, windows: Object.fromEntries(windows), bare1, parley1 };
  for (const adapter of ['classic', 'sharded'] as const) {
    const bare2 = result('bare', 2, adapter);
    const parley2 = result('parley', 2, adapter);
    log(`  pooled (${adapter}): bare 2 nodes ${bare2.rate} msg/s, parley 2 nodes ${parley2.rate} msg/s`);
    const bareScale = ratio(bare2.rate, bare1.rate);
    const parleyScale = ratio(parley2.rate, parley1.rate);
    const bareScalePerCpu = perCpuScale(bare2, bare1);
    const parleyScalePerCpu = perCpuScale(parley2, parley1);
    details[adapter] = { bare2, parley2, bareScale, parleyScale, bareScalePerCpu, parleyScalePerCpu };
    rows.push(
      { scenario: `cross-node (${adapter})`, measure: '2 nodes msg/s', parley: parley2.rate, baseline: bare2.rate, ratio: ratio(parley2.rate, bare2.rate), target: '', met: null },
      // The target compares scaling: Parley's 2-node/1-node ratio against the bare relay's.
      { scenario: `cross-node (${adapter})`, measure: '2-node / 1-node', parley: parleyScale, baseline: bareScale, ratio: ratio(parleyScale ?? NaN, bareScale ?? NaN), target: '≥ bare', met: parleyScale !== null && bareScale !== null ? parleyScale >= bareScale : null },
      // The same per CPU-second of the servers: a deployment that leaves its core partly idle (waiting on
      // Redis or the generator) scales better per CPU-second than per second.
      { scenario: `cross-node (${adapter})`, measure: '2-node / 1-node per CPU-second', parley: parleyScalePerCpu, baseline: bareScalePerCpu, ratio: ratio(parleyScalePerCpu ?? NaN, bareScalePerCpu ?? NaN), target: '', met: null },
    );
  }
  const cpu = (r: unknown) => (r as LoadResult).generatorCpu;
  const d = details as Record<'classic' | 'sharded', { bare2: LoadResult; parley2: LoadResult }>;
  rows.push({ scenario: 'cross-node', measure: 'generator CPU % (1; classic 2; sharded 2)', parley: `${parley1.generatorCpu}; ${cpu(d.classic.parley2)}; ${cpu(d.sharded.parley2)}`, baseline: `${bare1.generatorCpu}; ${cpu(d.classic.bare2)}; ${cpu(d.sharded.bare2)}`, ratio: null, target: '', met: null });
  return { name: 'cross-node', rows, details };
}
