/** Percentiles, CPU shares and the table printer the scenarios share. */

export interface Latency {
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

export function latency(values: readonly number[]): Latency {
  const sorted = Float64Array.from(values).sort();
  const pick = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN, 2);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { samples: sorted.length, p50: pick(0.5), p99: pick(0.99), p999: pick(0.999), mean: round(sum / sorted.length, 2), max: round(sorted.at(-1) ?? NaN, 2) };
}

/** CPU time spent between two process.cpuUsage() readings, as % of one core over `ms`. */
export function cpuPercent(before: NodeJS.CpuUsage | { cpuUser: number; cpuSystem: number }, after: typeof before, ms: number): number {
  const total = (u: typeof before) => ('user' in u ? u.user + u.system : u.cpuUser + u.cpuSystem);
  return round(((total(after) - total(before)) / 1000 / ms) * 100, 1);
}

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** `a / b` rounded, or null when either is missing. */
export function ratio(a: number | undefined, b: number | undefined, digits = 2): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return round(a / b, digits);
}

export function table(rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '–' : String(c))));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}
