import type { AccountService } from '../server/accounts/index.js';
import type { Retention } from '../server/accounts/retention.js';
import { type DeliveryJob, QUEUES } from '../server/chat/follow-up.js';
import type { FollowUpPublisher } from '../server/chat/follow-up.js';
import { type OfflineDelivery, SUMMARY_JOB_TYPE, type SummaryJob } from '../server/chat/offline-delivery.js';
import type { ReceiptJob, ReceiptProcessor } from '../server/chat/receipt-processor.js';
import type { ScheduledDelivery } from '../server/chat/scheduled-delivery.js';
import type { ParleyConfig } from '../server/config.js';
import type { Logger } from '../server/logger.js';
import type { LastSeenJob, Presence } from '../server/presence/index.js';
import type { Consumer, Queue } from '../server/queue/index.js';
import type { Store } from '../server/store/index.js';
import { NOTIFY_WORKER_NAMES } from './notify-workers.js';
import { Ticker } from './ticker.js';

/** Every worker, by the name `parley worker <names…>` takes. */
export const WORKER_NAMES = ['receipts', 'delivery', 'presence', 'scheduler', 'outbox', 'account-cleanup', 'retention', ...NOTIFY_WORKER_NAMES] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

export interface WorkerDeps {
  readonly store: Store;
  readonly queue: Queue;
  readonly presence: Presence;
  readonly receipts: ReceiptProcessor;
  readonly delivery: OfflineDelivery;
  readonly scheduled: ScheduledDelivery;
  readonly followUp: FollowUpPublisher;
  readonly accounts: AccountService;
  readonly retention: Retention;
  readonly config: ParleyConfig['queues'] & { readonly retentionIntervalMs: number };
  readonly logger: Logger;
}

export interface Workers {
  readonly names: readonly WorkerName[];
  /** Stops taking work and waits for what is in flight. */
  stop(): Promise<void>;
}

/**
 * Starts the named workers. Queue consumers are competing consumers: run any number of worker processes.
 * Periodic workers (scheduler, outbox, retention) are safe to run in several processes too: delivery decides once
 * per scheduled message, and republished follow-up work is ignored by idempotent consumers.
 */
export async function startWorkers(deps: WorkerDeps, names: readonly WorkerName[] = WORKER_NAMES): Promise<Workers> {
  const log = deps.logger.child({ module: 'workers' });
  const consumers: Consumer[] = [];
  const tickers: Ticker[] = [];
  const onTickError = (name: string) => (err: unknown) => log.error({ err, worker: name }, 'periodic worker failed');

  for (const name of names) {
    switch (name) {
      case 'receipts':
        consumers.push(await deps.queue.consume<ReceiptJob>(QUEUES.receipts, (job) => deps.receipts.process(requireFields(job.payload, ['conversationId', 'userId', 'kind', 'seq'])), { concurrency: 16 }));
        break;
      case 'delivery':
        consumers.push(
          await deps.queue.consume<DeliveryJob | SummaryJob>(QUEUES.delivery, async (job) => {
            const outcome =
              job.type === SUMMARY_JOB_TYPE
                ? await deps.delivery.summarise(requireFields(job.payload as SummaryJob, ['conversationId', 'recipientId', 'window', 'firstMessageId']))
                : await deps.delivery.process(requireFields(job.payload as DeliveryJob, ['messageId', 'conversationId', 'recipientId']));
            log.debug({ queue: QUEUES.delivery, jobId: job.id, type: job.type, outcome }, 'job handled');
          }, { concurrency: 16 }),
        );
        break;
      case 'presence':
        consumers.push(
          await deps.queue.consume<LastSeenJob>(QUEUES.presence, async (job) => {
            const { userId, lastSeenAt } = requireFields(job.payload, ['userId', 'lastSeenAt']);
            const at = new Date(lastSeenAt);
            if (Number.isNaN(at.getTime())) throw new MalformedJobError(`lastSeenAt is not a date: ${String(lastSeenAt)}`);
            await deps.store.setLastSeen(userId, at);
          }, { concurrency: 16 }),
        );
        break;
      case 'account-cleanup':
        consumers.push(await deps.queue.subscribe('account-cleanup', ['user.deleted'], deps.accounts.cleanupConsumer(deps.presence), { concurrency: 4 }));
        break;
      case 'scheduler':
        tickers.push(new Ticker(deps.config.schedulerIntervalMs, () => deps.scheduled.runDue(), onTickError(name)));
        break;
      case 'outbox':
        tickers.push(new Ticker(deps.config.outboxIntervalMs, () => deps.followUp.reconcile(deps.config.outboxIntervalMs), onTickError(name)));
        break;
      case 'retention':
        tickers.push(new Ticker(deps.config.retentionIntervalMs, () => deps.retention.run(), onTickError(name)));
        break;
    }
  }
  for (const ticker of tickers) ticker.start();
  log.info({ workers: names }, 'workers started');

  return {
    names,
    async stop() {
      await Promise.all([...consumers.map((c) => c.cancel()), ...tickers.map((t) => t.stop())]);
    },
  };
}

/** Parses worker names from the command line; unknown names are an error naming them. */
export function parseWorkerNames(args: readonly string[]): WorkerName[] {
  if (args.length === 0) return [...WORKER_NAMES];
  const unknown = args.filter((a) => !(WORKER_NAMES as readonly string[]).includes(a));
  if (unknown.length > 0) throw new Error(`unknown worker(s): ${unknown.join(', ')}; known: ${WORKER_NAMES.join(', ')}`);
  return args as WorkerName[];
}

/**
 * Checks a job's payload. A malformed job fails like any other and so takes the configured tries before
 * it is dead-lettered: the same path, and an operator sees it in the dead-letter queue with its reason.
 */
function requireFields<T extends object>(payload: T, fields: readonly (keyof T)[]): T {
  if (typeof payload !== 'object' || payload === null) throw new MalformedJobError('payload is not an object');
  const missing = fields.filter((f) => (payload as Record<PropertyKey, unknown>)[f] === undefined);
  if (missing.length > 0) throw new MalformedJobError(`payload misses ${missing.map(String).join(', ')}`);
  return payload;
}

class MalformedJobError extends Error {
  override name = 'MalformedJobError';
}
