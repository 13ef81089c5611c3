/**
 * redis-trips: Redis commands per message sent, counted on the wire by a proxy between the gateways and
 * Redis (bench/lib/redis-proxy.ts), for the cross-node load (16 pairs split over 2 gateways, window 4,
 * classic adapter), Parley (memory store) against the bare relays. A diagnostic for the cross-node
 * figures: the proxy adds a hop to every Redis round trip, so its messages/s are not comparable with the
 * cross-node scenario's. Only the measurement window counts.
 *
 *   npm run bench -- redis-trips [--quick]
 */
import { maxRate } from '../lib/chat-load.js';
import { connectPairs, startBare, startParley, stopAll } from '../lib/deploy.js';
import { RedisCountingProxy } from '../lib/redis-proxy.js';
import { phases, type Context, type ScenarioReport, type SummaryRow } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { log, ratio, round } from '../lib/stats.js';

const PAIRS = 16;
const WINDOW = 4;

async function count(kind: 'parley' | 'bare', proxy: RedisCountingProxy, phase: ReturnType<typeof phases>) {
  const redisUrl = `redis://127.0.0.1:${proxy.port}`;
  let nodes: ServerProcess[] = [];
  try {
    nodes =
      kind === 'parley'
        ? await startParley(2, { adapter: 'classic', env: { REDIS_URL: redisUrl } }, 'parley')
        : await startBare(2, 'classic', 'bare', redisUrl);
    const pairs = await connectPairs(kind, nodes, PAIRS);
    let before: Record<string, number> = {};
    let after: Record<string, number> = {};
    const r = await maxRate(pairs.senders, WINDOW, phase, nodes, {
      onStart: () => (before = proxy.snapshot()),
      onEnd: () => (after = proxy.snapshot()),
    });
    pairs.close();
    const d = RedisCountingProxy.diff(after, before);
    const total = Object.values(d).reduce((a, b) => a + b, 0);
    const perMessage = round(total / Math.max(1, r.delivered), 2);
    const byName = Object.fromEntries(Object.entries(d).map(([k, n]) => [k, round(n / Math.max(1, r.delivered), 2)]));
    log(`  ${kind} 2 nodes: ${r.delivered} messages (${r.rate}/s through the proxy), ${total} Redis commands: ${perMessage} per message ${JSON.stringify(byName)}`);
    return { messages: r.delivered, rate: r.rate, commands: total, perMessage, byName };
  } finally {
    await stopAll(nodes);
  }
}

export async function redisTrips(ctx: Context): Promise<ScenarioReport> {
  const phase = phases(ctx.quick);
  const proxy = new RedisCountingProxy();
  await proxy.start();
  log(`redis-trips: ${PAIRS} pairs over 2 gateways (classic adapter) through a counting Redis proxy`);
  try {
    const bare = await count('bare', proxy, phase);
    const parley = await count('parley', proxy, phase);
    const rows: SummaryRow[] = [
      { scenario: 'redis trips (2 nodes, classic)', measure: 'Redis commands / msg', parley: parley.perMessage, baseline: bare.perMessage, ratio: ratio(parley.perMessage, bare.perMessage), target: '', met: null },
    ];
    return { name: 'redis-trips', rows, details: { pairs: PAIRS, windowPerSender: WINDOW, phase, bare, parley } };
  } finally {
    await proxy.stop();
  }
}
