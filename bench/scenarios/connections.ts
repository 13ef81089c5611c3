/**
 * connections: N idle authenticated sockets on one Parley gateway (memory store; N = 10,000, quick 2,000)
 * vs N bare Socket.IO connections (each joining one room, as a user room) on the bare relay. Per system:
 * connect rate (handshakes/s with 100 in parallel, from 4 source addresses 127.0.0.1–4) and the server's
 * RSS and heap growth per connection (after a full GC, before vs after, once the sockets have been idle
 * for 2 s). Users and tokens are seeded before the "before" reading, so only the sockets count.
 *
 *   npm run bench -- connections [--quick]
 */
import { closeAll, connectMany } from '../lib/clients.js';
import { seedUsers, startBare, startParley, stopAll } from '../lib/deploy.js';
import type { Context, ScenarioReport, SummaryRow } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { cpuPercent, log, ratio, round, sleep } from '../lib/stats.js';

const SOURCES = 4;

interface Measured {
  connections: number;
  connectSeconds: number;
  connectRate: number;
  rssPerConnection: number;
  heapPerConnection: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  generatorCpu: number;
  serverCpu: number;
}

async function measure(label: string, node: ServerProcess, auths: Record<string, unknown>[]): Promise<Measured> {
  const before = await node.stats(true);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const clients = await connectMany(node.url, auths, { concurrency: 100, sourceAddresses: SOURCES, timeoutMs: 60_000 });
  const ms = performance.now() - t0;
  const cpu1 = process.cpuUsage();
  const mid = await node.stats();
  await sleep(2000);
  const after = await node.stats(true);
  closeAll(clients);
  const n = auths.length;
  const m: Measured = {
    connections: n,
    connectSeconds: round(ms / 1000, 2),
    connectRate: round((n / ms) * 1000, 0),
    rssPerConnection: Math.round((after.rss - before.rss) / n),
    heapPerConnection: Math.round((after.heapUsed - before.heapUsed) / n),
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    generatorCpu: cpuPercent(cpu0, cpu1, ms),
    serverCpu: cpuPercent(before, mid, ms),
  };
  log(`  ${label}: ${n} sockets in ${m.connectSeconds} s (${m.connectRate}/s); per connection RSS ${kb(m.rssPerConnection)} KiB, heap ${kb(m.heapPerConnection)} KiB; CPU generator ${m.generatorCpu}% server ${m.serverCpu}%`);
  return m;
}

const kb = (bytes: number) => round(bytes / 1024, 1);

export async function connections(ctx: Context): Promise<ScenarioReport> {
  const n = ctx.quick ? 2000 : 10_000;
  log(`connections: ${n} idle sockets, 100 handshakes in parallel, ${SOURCES} source addresses`);
  let nodes: ServerProcess[] = await startBare(1);
  const bare = await measure('bare', nodes[0]!, Array.from({ length: n }, (_, i) => ({ rooms: [`user${i}`] })));
  await stopAll(nodes);
  nodes = await startParley(1, {}, 'parley');
  let parley: Measured;
  try {
    const users = await seedUsers(nodes[0]!, n);
    parley = await measure('parley', nodes[0]!, users.map((u) => ({ token: u.token })));
  } finally {
    await stopAll(nodes);
  }
  const rssRatio = ratio(parley.rssPerConnection, bare.rssPerConnection);
  const heapRatio = ratio(parley.heapPerConnection, bare.heapPerConnection);
  const s = `connections (${n})`;
  const rows: SummaryRow[] = [
    { scenario: s, measure: 'RSS KiB / connection', parley: kb(parley.rssPerConnection), baseline: kb(bare.rssPerConnection), ratio: rssRatio, target: '≤ 2', met: (rssRatio ?? Infinity) <= 2 },
    { scenario: s, measure: 'heap KiB / connection', parley: kb(parley.heapPerConnection), baseline: kb(bare.heapPerConnection), ratio: heapRatio, target: '≤ 2', met: (heapRatio ?? Infinity) <= 2 },
    { scenario: s, measure: 'connects / s', parley: parley.connectRate, baseline: bare.connectRate, ratio: ratio(parley.connectRate, bare.connectRate), target: '', met: null },
    { scenario: s, measure: 'generator CPU % (connecting)', parley: parley.generatorCpu, baseline: bare.generatorCpu, ratio: null, target: '', met: null },
  ];
  return { name: 'connections', rows, details: { store: 'memory', sourceAddresses: SOURCES, parley, bare } };
}
