/**
 * The end-to-end chat load, identical for Parley and the bare relay: each sender emits `message:send`
 * (100-byte text) with an ack, and a message counts as done once the sender has its ack AND the intended
 * recipient socket got `message:new` for it (matched by clientMsgId). Latency = emit → recipient's
 * `message:new`. Each sender keeps at most `window` messages not yet done.
 *
 * - closed loop (`maxRate`): every sender keeps its window full; delivered messages/s = the max rate.
 * - open loop (`fixedRate`): messages are started at `rate`/s in total (round-robin over senders, a 1 ms
 *   ticker); a sender whose window is full is skipped and the miss is counted.
 * - open loop in turns (`fixedRateInTurns`): the same for several systems, each loaded in turn for a
 *   slice of the window, so that they share the machine's slow and fast spells (see there).
 *
 * Only the measurement window counts (after a warm-up): deliveries inside it, latencies of messages sent
 * inside it, and this process's CPU (process.cpuUsage) and the servers' CPU over it.
 */
import { TEXT_100, type Client } from './clients.js';
import type { ServerProcess } from './server-process.js';
import { cpuPercent, latency, round, sleep, type Latency } from './stats.js';

export interface Sender {
  readonly socket: Client;
  readonly conversationId: string;
  readonly recipient: Client;
}

export interface Phase {
  readonly warmupMs: number;
  readonly measureMs: number;
}

/** Called right at the edges of the measurement window (e.g. to read a counting proxy). */
export interface WindowHooks {
  readonly onStart?: () => void;
  readonly onEnd?: () => void;
}

export interface LoadResult {
  mode: 'max' | 'fixed';
  offeredRate: number | null;
  /** Messages delivered to their recipient per second in the measurement window. */
  rate: number;
  delivered: number;
  errors: number;
  firstError: string | null;
  /** Open loop: messages not started because the sender's window was full. */
  skipped: number;
  latencyMs: Latency;
  ackLatencyMs: Latency;
  /** % of one core. */
  generatorCpu: number;
  serverCpu: Record<string, number>;
  /** Each server's heap at the end of the window, MiB (the memory store keeps every message). */
  serverHeapMiB: Record<string, number>;
  seconds: number;
}

interface InFlight {
  sender: number;
  sentAt: number;
  acked: boolean;
  delivered: boolean;
  measured: boolean;
}

let runCounter = 0;

class Engine {
  readonly inflight = new Map<string, InFlight>();
  readonly open: number[];
  readonly latencies: number[] = [];
  readonly ackLatencies: number[] = [];
  delivered = 0;
  errors = 0;
  firstError: string | null = null;
  measuring = false;
  stopped = false;
  private n = 0;
  private readonly tag = `r${process.pid}x${++runCounter}`;
  private readonly listeners: Array<() => void> = [];

  constructor(
    readonly senders: readonly Sender[],
    readonly window: number,
    readonly onDone: (sender: number) => void,
  ) {
    this.open = senders.map(() => 0);
    senders.forEach((s, i) => {
      const listener = (m: { clientMsgId?: string }) => {
        const f = m.clientMsgId === undefined ? undefined : this.inflight.get(m.clientMsgId);
        if (!f || f.delivered || this.senders[f.sender]!.recipient !== s.recipient) return;
        f.delivered = true;
        const now = performance.now();
        if (f.measured) this.latencies.push(now - f.sentAt);
        if (this.measuring) this.delivered++;
        this.finishIfDone(m.clientMsgId!, f);
      };
      // One listener per distinct recipient socket.
      if (senders.findIndex((o) => o.recipient === s.recipient) !== i) return;
      s.recipient.on('message:new', listener);
      this.listeners.push(() => s.recipient.off('message:new', listener));
    });
  }

  canSend(i: number): boolean {
    return !this.stopped && this.open[i]! < this.window;
  }

  send(i: number): void {
    const s = this.senders[i]!;
    const clientMsgId = `${this.tag}-${i}-${++this.n}`;
    const f: InFlight = { sender: i, sentAt: performance.now(), acked: false, delivered: false, measured: this.measuring };
    this.inflight.set(clientMsgId, f);
    this.open[i]!++;
    s.socket.emit('message:send', { conversationId: s.conversationId, clientMsgId, text: TEXT_100 }, (res: { ok?: boolean; error?: unknown }) => {
      if (res?.ok === false || (res as { error?: unknown })?.error) {
        this.errors++;
        this.firstError ??= JSON.stringify(res).slice(0, 300);
        f.delivered = true;
      }
      f.acked = true;
      if (f.measured) this.ackLatencies.push(performance.now() - f.sentAt);
      this.finishIfDone(clientMsgId, f);
    });
  }

  private finishIfDone(id: string, f: InFlight): void {
    if (!f.acked || !f.delivered) return;
    this.inflight.delete(id);
    this.open[f.sender]!--;
    this.onDone(f.sender);
  }

  async drain(ms = 10_000): Promise<void> {
    this.stopped = true;
    const deadline = Date.now() + ms;
    while (this.inflight.size > 0 && Date.now() < deadline) await sleep(20);
    for (const off of this.listeners) off();
  }
}

/** A run's result, with every latency it measured (for pooling the slices of `fixedRateInTurns`). */
interface Measured {
  readonly result: LoadResult;
  /** The window's exact length (result.seconds is rounded). */
  readonly ms: number;
  readonly latencies: readonly number[];
  readonly ackLatencies: readonly number[];
}

async function measure(engine: Engine, phase: Phase, servers: readonly ServerProcess[], mode: LoadResult['mode'], offeredRate: number | null, skipped: () => number, hooks: WindowHooks = {}): Promise<Measured> {
  await sleep(phase.warmupMs);
  const serverBefore = await Promise.all(servers.map((s) => s.stats()));
  hooks.onStart?.();
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  const skippedBefore = skipped();
  engine.measuring = true;
  await sleep(phase.measureMs);
  engine.measuring = false;
  const ms = performance.now() - t0;
  const cpuAfter = process.cpuUsage();
  hooks.onEnd?.();
  const serverAfter = await Promise.all(servers.map((s) => s.stats()));
  const skippedInWindow = skipped() - skippedBefore;
  await engine.drain();
  const result: LoadResult = {
    mode,
    offeredRate,
    rate: round((engine.delivered / ms) * 1000, 0),
    delivered: engine.delivered,
    errors: engine.errors,
    firstError: engine.firstError,
    skipped: skippedInWindow,
    latencyMs: latency(engine.latencies),
    ackLatencyMs: latency(engine.ackLatencies),
    generatorCpu: cpuPercent(cpuBefore, cpuAfter, ms),
    serverCpu: Object.fromEntries(servers.map((s, i) => [s.name, cpuPercent(serverBefore[i]!, serverAfter[i]!, ms)])),
    serverHeapMiB: Object.fromEntries(servers.map((s, i) => [s.name, round(serverAfter[i]!.heapUsed / 2 ** 20, 0)])),
    seconds: round(ms / 1000, 1),
  };
  return { result, ms, latencies: engine.latencies, ackLatencies: engine.ackLatencies };
}

/** Closed loop: every sender keeps `window` messages in flight. */
export async function maxRate(senders: readonly Sender[], window: number, phase: Phase, servers: readonly ServerProcess[], hooks: WindowHooks = {}): Promise<LoadResult> {
  const engine: Engine = new Engine(senders, window, (i) => {
    if (engine.canSend(i)) engine.send(i);
  });
  senders.forEach((_, i) => {
    for (let k = 0; k < window; k++) engine.send(i);
  });
  return (await measure(engine, phase, servers, 'max', null, () => 0, hooks)).result;
}

/** Open loop at `rate` messages/s in total. */
export async function fixedRate(senders: readonly Sender[], window: number, rate: number, phase: Phase, servers: readonly ServerProcess[]): Promise<LoadResult> {
  return (await openLoop(senders, window, rate, phase, servers)).result;
}

/** One system under test: its clients and its server processes. */
export interface System {
  readonly senders: readonly Sender[];
  readonly servers: readonly ServerProcess[];
}

/**
 * `fixedRate` for each of `systems`, in `turns` rounds: in each round every system is loaded on its
 * own for a slice of the measurement window (after a warm-up of at most a second), the order reversed
 * every other round (A B, B A, …). Each result pools its slices: every latency of every slice, the
 * CPU over all of them. This machine's speed drifts by tens of percent within a minute (the relay's CPU
 * for the same load ranged 58–94% between runs), so two systems measured one after the other can meet
 * different machines; in turns, both meet the same mix of spells.
 */
export async function fixedRateInTurns<const T extends readonly System[]>(systems: T, window: number, rate: number, phase: Phase, turns: number): Promise<{ [K in keyof T]: LoadResult }> {
  const slice: Phase = { warmupMs: Math.min(phase.warmupMs, 1000), measureMs: phase.measureMs / turns };
  const runs: Measured[][] = systems.map(() => []);
  for (let round = 0; round < turns; round++) {
    const order = systems.map((_, i) => (round % 2 === 0 ? i : systems.length - 1 - i));
    for (const i of order) runs[i]!.push(await openLoop(systems[i]!.senders, window, rate, slice, systems[i]!.servers));
  }
  return runs.map(pooled) as { [K in keyof T]: LoadResult };
}

/** One result from a system's slices: latencies pooled, counts summed, rates and CPU over their total time. */
function pooled(slices: readonly Measured[]): LoadResult {
  return combine(
    slices.map((s) => s.result),
    slices.map((s) => s.ms),
    { latencyMs: latency(slices.flatMap((s) => s.latencies)), ackLatencyMs: latency(slices.flatMap((s) => s.ackLatencies)) },
  );
}

/**
 * One closed-loop result from several windows of the same system (e.g. rounds of the cross-node
 * scenario): delivered messages over the windows' total time, CPU weighted by time. Latencies are left
 * as the last window's.
 */
export function pooledMax(results: readonly LoadResult[]): LoadResult {
  // A window's length to the millisecond, from what it delivered and its rate (`seconds` is rounded).
  return combine(results, results.map((r) => (r.rate > 0 ? (r.delivered / r.rate) * 1000 : r.seconds * 1000)), {});
}

function combine(results: readonly LoadResult[], windowMs: readonly number[], latencies: Partial<Pick<LoadResult, 'latencyMs' | 'ackLatencyMs'>>): LoadResult {
  const seconds = windowMs.reduce((total, ms) => total + ms, 0) / 1000;
  const sum = (pick: (r: LoadResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  const overTime = (pick: (r: LoadResult) => number) => round(results.reduce((total, r, i) => total + pick(r) * windowMs[i]!, 0) / 1000 / seconds, 1);
  const last = results.at(-1)!;
  return {
    ...last,
    ...latencies,
    rate: round(sum((r) => r.delivered) / seconds, 0),
    delivered: sum((r) => r.delivered),
    errors: sum((r) => r.errors),
    firstError: results.find((r) => r.firstError !== null)?.firstError ?? null,
    skipped: sum((r) => r.skipped),
    generatorCpu: overTime((r) => r.generatorCpu),
    serverCpu: Object.fromEntries(Object.keys(last.serverCpu).map((name) => [name, overTime((r) => r.serverCpu[name] ?? 0)])),
    seconds: round(seconds, 1),
  };
}

async function openLoop(senders: readonly Sender[], window: number, rate: number, phase: Phase, servers: readonly ServerProcess[]): Promise<Measured> {
  const engine = new Engine(senders, window, () => undefined);
  let started = 0;
  let skipped = 0;
  let next = 0;
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (started < due) {
      started++;
      const i = next;
      next = (next + 1) % senders.length;
      if (engine.canSend(i)) engine.send(i);
      else skipped++;
    }
  }, 1);
  try {
    return await measure(engine, phase, servers, 'fixed', rate, () => skipped);
  } finally {
    clearInterval(ticker);
  }
}
