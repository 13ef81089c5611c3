import type { Logger } from '../server/logger.js';
import type { NotifyConfig } from '../server/notify/notify-config.js';
import type { Consumer, EventHandler, Job, Queue } from '../server/queue/index.js';
import { Ticker } from './ticker.js';

/**
 * The notification pipeline's workers, by the name `parley worker <names…>` takes:
 *
 * - `notify-high`, `notify-normal`, `notify-low`: consumers of one class queue each, with their own
 *   concurrency (NOTIFY_CONCURRENCY_*), so a flood of low jobs never takes a high job's slot;
 * - `notify-scheduler`: fires due schedules, repairs pending occurrences, releases deferred deliveries
 *   (safe in several processes: every step is claimed by a unique insert);
 * - `notify-cleanup`: on `user.deleted`, removes the user's notification profile and push subscriptions.
 */
export const NOTIFY_WORKER_NAMES = ['notify-high', 'notify-normal', 'notify-low', 'notify-scheduler', 'notify-cleanup'] as const;
export type NotifyWorkerName = (typeof NOTIFY_WORKER_NAMES)[number];

export interface NotifyWorkerDeps {
  readonly queue: Queue;
  readonly config: NotifyConfig['workers'];
  readonly logger: Logger;
  /** Runs one job of a class queue (expand or deliver); throws to retry, UnrecoverableJobError to dead-letter. */
  readonly handleJob: (job: Job) => Promise<void>;
  /** One scheduler pass. */
  readonly tick: () => Promise<unknown>;
  /** The `user.deleted` consumer. */
  readonly onUserDeleted: EventHandler;
}

export interface NotifyWorkers {
  readonly names: readonly NotifyWorkerName[];
  stop(): Promise<void>;
}

const CLASS_OF: Readonly<Record<'notify-high' | 'notify-normal' | 'notify-low', 'high' | 'normal' | 'low'>> = {
  'notify-high': 'high',
  'notify-normal': 'normal',
  'notify-low': 'low',
};

export async function startNotifyWorkers(deps: NotifyWorkerDeps, names: readonly NotifyWorkerName[] = NOTIFY_WORKER_NAMES): Promise<NotifyWorkers> {
  const log = deps.logger.child({ module: 'notify-workers' });
  const consumers: Consumer[] = [];
  const tickers: Ticker[] = [];
  try {
    for (const name of names) {
      switch (name) {
        case 'notify-high':
        case 'notify-normal':
        case 'notify-low': {
          const priorityClass = CLASS_OF[name];
          consumers.push(
            await deps.queue.consume(`notify.${priorityClass}`, deps.handleJob, {
              concurrency: deps.config.concurrency[priorityClass],
              maxAttempts: deps.config.maxAttempts,
            }),
          );
          break;
        }
        case 'notify-scheduler':
          tickers.push(new Ticker(deps.config.schedulerIntervalMs, deps.tick, (err) => log.error({ err }, 'notify scheduler pass failed')));
          break;
        case 'notify-cleanup':
          consumers.push(await deps.queue.subscribe('notify-cleanup', ['user.deleted'], deps.onUserDeleted, { concurrency: 4 }));
          break;
      }
    }
  } catch (err) {
    await Promise.all(consumers.map((c) => c.cancel()));
    throw err;
  }
  for (const ticker of tickers) ticker.start();
  log.info({ workers: names }, 'notify workers started');
  return {
    names,
    async stop() {
      await Promise.all([...consumers.map((c) => c.cancel()), ...tickers.map((t) => t.stop())]);
    },
  };
}

/** Parses notify worker names; unknown names are an error naming them. */
export function parseNotifyWorkerNames(args: readonly string[]): NotifyWorkerName[] {
  const unknown = args.filter((a) => !(NOTIFY_WORKER_NAMES as readonly string[]).includes(a));
  if (unknown.length > 0) throw new Error(`unknown notify worker(s): ${unknown.join(', ')}; known: ${NOTIFY_WORKER_NAMES.join(', ')}`);
  return args as NotifyWorkerName[];
}
