/**
 * CPU pinning with `taskset`: servers under test on one set of cores, the load generator (this process)
 * on another, so the generator's work does not steal the servers' CPU. On a 2-core machine: servers on
 * core 0, generator on core 1. Without taskset (or with one core) nothing is pinned, and the output says so.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export interface Pinning {
  /** e.g. "servers on core 0, generator on core 1 (taskset)" or why nothing is pinned. */
  readonly description: string;
  /** Prefix for spawning a server: ['taskset', '-c', '0'] or []. */
  readonly serverPrefix: readonly string[];
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process (every thread) to the generator's cores and says where servers go. */
export function pinGenerator(enabled = true): Pinning {
  const n = cpus().length;
  if (!enabled) return { description: 'not pinned (--no-pin)', serverPrefix: [] };
  if (n < 2) return { description: `not pinned (${n} core)`, serverPrefix: [] };
  if (!hasTaskset()) return { description: 'not pinned (taskset not found)', serverPrefix: [] };
  const half = Math.floor(n / 2);
  const servers = half === 1 ? '0' : `0-${half - 1}`;
  const generator = n - half === 1 ? String(n - 1) : `${half}-${n - 1}`;
  execFileSync('taskset', ['-a', '-c', '-p', generator, String(process.pid)], { stdio: 'ignore' });
  return { description: `servers on core ${servers}, generator on core ${generator} (taskset)`, serverPrefix: ['taskset', '-c', servers] };
}
