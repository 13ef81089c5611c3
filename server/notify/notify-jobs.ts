import type { Queue } from '../queue/index.js';
import { classQueue, type PriorityClass } from './priority.js';

/**
 * The two kinds of job on a class queue (`notify.high`, `notify.normal`, `notify.low`):
 *
 * - `notify.expand` `{ occurrenceId, eventId }`: one occurrence of an event, to be turned into one
 *   delivery per recipient and channel;
 * - `notify.deliver` `{ attemptId }`: one channel delivery, whose rendered message and address are in
 *   the attempt record.
 *
 * Both are small and carry ids only: what they refer to is in the notify store, and a repeat finds it
 * in whatever state the first run left it.
 */
export const JOB_TYPES = { expand: 'notify.expand', deliver: 'notify.deliver' } as const;

export interface ExpandJob {
  readonly occurrenceId: string;
  readonly eventId: string;
}

export interface DeliverJob {
  readonly attemptId: string;
  /** Set when the scheduler releases a deferral: the deferral's id. */
  readonly release?: string;
}

export class NotifyPublisher {
  constructor(private readonly queue: Queue) {}

  expand(priorityClass: PriorityClass, job: ExpandJob): Promise<void> {
    return this.queue.publish<ExpandJob>(classQueue(priorityClass), { id: `expand:${job.occurrenceId}`, type: JOB_TYPES.expand, payload: job });
  }

  deliver(queueName: string, attemptId: string, release?: string): Promise<void> {
    const payload: DeliverJob = release ? { attemptId, release } : { attemptId };
    return this.queue.publish<DeliverJob>(queueName, { id: `deliver:${attemptId}`, type: JOB_TYPES.deliver, payload });
  }
}

/** `<eventId>@<ISO time>`: the same occurrence has the same id in every scheduler. */
export function occurrenceId(eventId: string, dueAt: Date): string {
  return `${eventId}@${dueAt.toISOString()}`;
}
