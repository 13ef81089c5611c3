/**
 * The benchmark harness (issue 7). This process is the load generator; every server under test (Parley
 * gateways, bare Socket.IO relays) is its own child process. With taskset and ≥ 2 cores the servers are
 * pinned to the first half of the cores and this process to the second half.
 *
 *   npm run bench                         # every scenario, full size
 *   npm run bench -- chat --quick         # one scenario, small (under a minute)
 *   npm run bench -- chat store-trips --quick --no-pin
 *
 * Scenarios: chat, cross-node, fanout, connections, notifications, store-trips, redis-trips (docs/benchmarks.md).
 * Prints progress lines, then a summary table (Parley, baseline, ratio, target); writes the JSON of the run
 * to bench/results/bench-<date>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { pinGenerator } from './lib/pinning.js';
import { setServerPrefix } from './lib/server-process.js';
import { MONGODB_LABEL } from './lib/deploy.js';
import { log, table } from './lib/stats.js';
import type { Scenario, ScenarioReport } from './lib/scenario.js';
import { chat } from './scenarios/chat.js';
import { crossNode } from './scenarios/cross-node.js';
import { fanout } from './scenarios/fanout.js';
import { connections } from './scenarios/connections.js';
import { notifications } from './scenarios/notifications.js';
import { storeTrips } from './scenarios/store-trips.js';
import { redisTrips } from './scenarios/redis-trips.js';

const SCENARIOS: Record<string, Scenario> = {
  chat,
  'cross-node': crossNode,
  fanout,
  connections,
  notifications,
  'store-trips': storeTrips,
  'redis-trips': redisTrips,
};

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const names = argv.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario ${unknown.join(', ')}; one of: ${Object.keys(SCENARIOS).join(', ')}\n`);
    return 2;
  }
  const pinning = pinGenerator(!argv.includes('--no-pin'));
  setServerPrefix(pinning.serverPrefix);
  const require = createRequire(import.meta.url);
  const conditions = {
    date: new Date().toISOString(),
    quick,
    commit: gitState(),
    node: process.version,
    socketIo: (require('socket.io/package.json') as { version: string }).version,
    socketIoClient: (require('socket.io-client/package.json') as { version: string }).version,
    redisAdapter: (require('@socket.io/redis-adapter/package.json') as { version: string }).version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    pinning: pinning.description,
    mongodb: MONGODB_LABEL,
    note: 'shared machine: other work (e.g. test suites) may run at the same time; compare ratios within one run',
  };
  log(`conditions: ${JSON.stringify(conditions)}`);
  const reports: ScenarioReport[] = [];
  const failures: Record<string, string> = {};
  for (const name of names.length > 0 ? names : Object.keys(SCENARIOS)) {
    const started = Date.now();
    const loadBefore = loadavg()[0]!.toFixed(1);
    try {
      const report = await runWithRetry(name, quick, pinning.description);
      // The 1-minute load average of the whole machine, before and after: how busy the neighbours were.
      report.details.loadAverage1m = `${loadBefore} → ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`;
      reports.push(report);
      log(`${name} done in ${Math.round((Date.now() - started) / 1000)} s (load average ${report.details.loadAverage1m})`);
    } catch (err) {
      failures[name] = String((err as Error)?.stack ?? err);
      log(`${name} FAILED: ${failures[name]}`);
    }
  }

  const rows = reports.flatMap((r) => r.rows);
  process.stdout.write(`\nSummary (${quick ? 'quick' : 'full'} run; ${pinning.description}; MongoDB = ${MONGODB_LABEL})\n`);
  process.stdout.write(
    `${table([
      ['scenario', 'measure', 'Parley', 'baseline', 'ratio', 'target', 'met'],
      ...rows.map((r) => [r.scenario, r.measure, r.parley, r.baseline, r.ratio, r.target || '', r.met === null ? '' : r.met ? 'yes' : 'NO']),
    ])}\n`,
  );
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}bench-${conditions.date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, `${JSON.stringify({ conditions, summary: rows, scenarios: Object.fromEntries(reports.map((r) => [r.name, r.details])), failures }, null, 2)}\n`);
  process.stdout.write(`\nwritten to ${file}\n`);
  return Object.keys(failures).length > 0 ? 1 : 0;
}

/** Runs a scenario; on a failure (e.g. a shared service briefly down) tries once more, and says so. */
async function runWithRetry(name: string, quick: boolean, pinning: string): Promise<ScenarioReport> {
  try {
    return await SCENARIOS[name]!({ quick, pinning });
  } catch (err) {
    log(`${name} failed (${String((err as Error)?.message ?? err).split('\n')[0]}); retrying once`);
    const report = await SCENARIOS[name]!({ quick, pinning });
    report.details.retriedAfter = String((err as Error)?.message ?? err).split('\n')[0];
    return report;
  }
}

/** The commit measured, and whether the working tree had changes to server/ or workers/ on top of it. */
function gitState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'server', 'workers'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in server/ or workers/` : head;
  } catch {
    return 'unknown';
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
