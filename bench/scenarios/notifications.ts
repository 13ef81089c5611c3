/**
 * notifications: two child processes on the servers' cores, each a whole notification pipeline on the real
 * RabbitMQ (stores in memory):
 * - bench/notify-priority.ts: high-priority latency (submit → SMS provider) with the low queue idle vs with
 *   a backlog of low jobs (20,000; quick: 2,000, and 100 high events instead of 300). Target: high p99 with
 *   the backlog ≤ 2× without. Its own JSON lands in bench/results/notify-priority-*.json too.
 * - bench/notify-throughput.ts: normal-priority notifications/s end to end, every publish confirmed
 *   (5,000 events; quick: 1,000). No baseline.
 *
 *   npm run bench -- notifications [--quick]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context, ScenarioReport, SummaryRow } from '../lib/scenario.js';
import { getServerPrefix } from '../lib/server-process.js';
import { log, ratio } from '../lib/stats.js';

function runScript(script: string, args: string[]): Promise<string> {
  const path = fileURLToPath(new URL(`../${script}`, import.meta.url));
  const cmd = [...getServerPrefix(), process.execPath, '--import', 'tsx', path, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}: ${err.slice(-2000)}`))));
  });
}

interface PriorityScenario {
  name: string;
  backlog: number;
  backlogLeft: number;
  lowPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

export async function notifications(ctx: Context): Promise<ScenarioReport> {
  const backlog = ctx.quick ? 2000 : 20_000;
  const high = ctx.quick ? 100 : 300;
  log(`notifications: priority isolation (${high} high events, backlog ${backlog} low jobs) on RabbitMQ`);
  const out = await runScript('notify-priority.ts', ['--high', String(high), '--backlog', String(backlog)]);
  const file = /written to (\S+)/.exec(out)?.[1];
  if (!file) throw new Error(`notify-priority printed no result file:\n${out}`);
  const priority = JSON.parse(readFileSync(file, 'utf8')) as { conditions: Record<string, unknown>; results: PriorityScenario[] };
  const [idle, loaded] = priority.results;
  log(`  high p99: ${idle?.latencyMs.p99} ms idle, ${loaded?.latencyMs.p99} ms with ${backlog} low waiting (p50 ${idle?.latencyMs.p50} / ${loaded?.latencyMs.p50}); low jobs/s meanwhile ${loaded?.lowPerSecond}`);

  const events = ctx.quick ? 1000 : 5000;
  log(`notifications: throughput, ${events} normal events, publisher confirms`);
  const line = /RESULT (.*)/.exec(await runScript('notify-throughput.ts', ['--events', String(events)]))?.[1];
  if (!line) throw new Error('notify-throughput printed no RESULT line');
  const throughput = JSON.parse(line) as { submitPerSecond: number; endToEndPerSecond: number; delivered: number };
  log(`  ${throughput.delivered}/${events} delivered: submit ${throughput.submitPerSecond}/s, end to end ${throughput.endToEndPerSecond}/s`);

  const p99Ratio = ratio(loaded?.latencyMs.p99, idle?.latencyMs.p99);
  const rows: SummaryRow[] = [
    { scenario: 'notifications', measure: `high p99 ms, ${backlog} low waiting vs idle`, parley: loaded?.latencyMs.p99 ?? null, baseline: idle?.latencyMs.p99 ?? null, ratio: p99Ratio, target: '≤ 2', met: (p99Ratio ?? Infinity) <= 2 },
    { scenario: 'notifications', measure: 'high p50 ms, backlog vs idle', parley: loaded?.latencyMs.p50 ?? null, baseline: idle?.latencyMs.p50 ?? null, ratio: ratio(loaded?.latencyMs.p50, idle?.latencyMs.p50), target: '', met: null },
    { scenario: 'notifications', measure: 'normal notifications/s end to end (confirms)', parley: throughput.endToEndPerSecond, baseline: null, ratio: null, target: '', met: null },
    { scenario: 'notifications', measure: 'submits/s (intake, confirmed)', parley: throughput.submitPerSecond, baseline: null, ratio: null, target: '', met: null },
  ];
  return { name: 'notifications', rows, details: { priority, priorityFile: file, throughput } };
}
