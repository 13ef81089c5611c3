/**
 * store-trips: MongoDB commands per message sent, counted on the wire by a proxy between one Parley
 * gateway and the MongoDB server (FerretDB here) — bench/lib/mongo-proxy.ts — without touching server code.
 * Only the send phase counts (start-up, seeding and connects are excluded), and driver heartbeats
 * (`hello`/`isMaster`) and the workers' pollers (scheduled messages, notification schedules), which are
 * time-driven rather than load-driven, are reported apart: the target is judged on the send path's
 * commands per message; the total is printed beside it. Two loads: concurrent (16 pairs,
 * window 4 per sender, closed loop) and a lone sender (1 pair, window 1). The gateway runs with role
 * `all` and in-process queues, so its workers' commands count too. No baseline: the bare relay has no store.
 *
 *   npm run bench -- store-trips [--quick]
 */
import { maxRate } from '../lib/chat-load.js';
import { connectPairs, dropDatabase, freshMongoUri, MONGODB_LABEL, startParley, stopAll } from '../lib/deploy.js';
import { MongoCountingProxy } from '../lib/mongo-proxy.js';
import { phases, type Context, type ScenarioReport, type SummaryRow } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { log, round } from '../lib/stats.js';

/** Driver heartbeats and handshakes: time-driven, not load-driven. */
const HEARTBEATS = new Set(['hello', 'isMaster', 'ismaster', 'op_query']);
/** Workers' pollers (scheduled messages, notification schedules): a few per second whatever the load. */
const POLLERS = new Set(['find:scheduled_messages', 'find:notify_schedules', 'find:notify_pending', 'find:notify_deferred']);
const TARGET = 1.2;

export async function storeTrips(ctx: Context): Promise<ScenarioReport> {
  const phase = phases(ctx.quick);
  const proxy = new MongoCountingProxy();
  const port = await proxy.start();
  const rows: SummaryRow[] = [];
  const details: Record<string, unknown> = { store: MONGODB_LABEL, phase };
  for (const load of [
    { label: 'concurrent', pairs: 16, window: 4 },
    { label: 'lone sender', pairs: 1, window: 1 },
  ]) {
    const uri = freshMongoUri(`mongodb://127.0.0.1:${port}`);
    let nodes: ServerProcess[] = [];
    try {
      nodes = await startParley(1, { mongodbUri: uri }, 'parley');
      const pairs = await connectPairs('parley', nodes, load.pairs);
      log(`store-trips: ${load.label}: ${load.pairs * 2} senders, window ${load.window}, through the counting proxy`);
      let before = proxy.snapshot();
      let after = before;
      const result = await maxRate(pairs.senders, load.window, phase, nodes, {
        onStart: () => (before = proxy.snapshot()),
        onEnd: () => (after = proxy.snapshot()),
      });
      pairs.close();
      const d = MongoCountingProxy.diff(after, before);
      const heartbeats = Object.entries(d.byName).filter(([n]) => HEARTBEATS.has(n)).reduce((a, [, n]) => a + n, 0);
      const pollers = Object.entries(d.byTarget).filter(([n]) => POLLERS.has(n)).reduce((a, [, n]) => a + n, 0);
      const commands = d.total - heartbeats - pollers;
      const perMessage = result.delivered > 0 ? round(commands / result.delivered, 2) : NaN;
      const totalPerMessage = result.delivered > 0 ? round(d.total / result.delivered, 2) : NaN;
      const byNamePerMessage = Object.fromEntries(Object.entries(d.byTarget).map(([n, c]) => [n, round(c / Math.max(1, result.delivered), 3)]));
      log(`  ${result.delivered} messages (${result.rate}/s), ${commands} send-path commands (+${pollers} pollers, +${heartbeats} heartbeats): ${perMessage} per message (${totalPerMessage} with all); per message by name ${JSON.stringify(byNamePerMessage)}`);
      details[load.label] = { ...load, messages: result.delivered, rate: result.rate, commands, pollers, heartbeats, perMessage, totalPerMessage, byName: d.byName, byTarget: d.byTarget, byNamePerMessage, errors: result.errors, generatorCpu: result.generatorCpu, serverCpu: result.serverCpu };
      rows.push(
        { scenario: `store trips (${load.label})`, measure: 'Mongo commands / msg, send path', parley: perMessage, baseline: null, ratio: null, target: `≤ ${TARGET}`, met: load.label === 'concurrent' ? perMessage <= TARGET : null },
        { scenario: `store trips (${load.label})`, measure: 'Mongo commands / msg, all', parley: totalPerMessage, baseline: null, ratio: null, target: '', met: null },
        { scenario: `store trips (${load.label})`, measure: 'msg/s during count', parley: result.rate, baseline: null, ratio: null, target: '', met: null },
      );
    } finally {
      await stopAll(nodes);
      await dropDatabase(uri).catch((err) => log(`  could not drop database: ${String(err)}`));
    }
  }
  await proxy.stop();
  return { name: 'store-trips', rows, details };
}
