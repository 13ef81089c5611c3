/**
 * Medians over several runs: reads bench/results/bench-*.json files (from `npm run bench`) and prints,
 * per summary row, the median of Parley's figure, the baseline's and the per-run ratio, with the range of
 * the ratio. Ratios are taken within each run, then their median.
 *
 *   npx tsx bench/median.ts bench/results/bench-A.json bench/results/bench-B.json bench/results/bench-C.json
 */
import { readFileSync } from 'node:fs';
import type { SummaryRow } from './lib/scenario.js';
import { median, round, table } from './lib/stats.js';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: npx tsx bench/median.ts <result.json>…\n');
  process.exit(2);
}
const groups = new Map<string, SummaryRow[]>();
for (const file of files) {
  const { summary } = JSON.parse(readFileSync(file, 'utf8')) as { summary: SummaryRow[] };
  for (const row of summary) {
    // Rates in a measure's name (e.g. "p99 ms @ 7986/s") differ from run to run.
    const key = `${row.scenario}|${row.measure.replace(/@ \d+\/s/, '@ ½ max')}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
}

const medianOf = (values: (number | string | null)[]): number | string | null => {
  const nums = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (nums.length === 0) return values.filter((v) => v !== null).join(' | ') || null;
  return round(median(nums), 2);
};
const range = (values: (number | null)[]) => {
  const nums = values.filter((v): v is number => typeof v === 'number');
  return nums.length > 0 ? `${Math.min(...nums)}–${Math.max(...nums)}` : null;
};

const rows = [...groups].map(([key, runs]) => {
  const [scenario, measure] = key.split('|');
  const met = runs.filter((r) => r.met !== null);
  return [scenario, measure, runs.length, medianOf(runs.map((r) => r.parley)), medianOf(runs.map((r) => r.baseline)), medianOf(runs.map((r) => r.ratio)), range(runs.map((r) => r.ratio)), runs[0]!.target, met.length > 0 ? `${met.filter((r) => r.met).length}/${met.length}` : ''];
});
process.stdout.write(`${table([['scenario', 'measure', 'runs', 'Parley (median)', 'baseline (median)', 'ratio (median)', 'ratio range', 'target', 'met in'], ...rows])}\n`);
