import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type Channel } from 'amqplib';
import { expect } from 'chai';
import { ParleyError } from '../../server/errors.js';
import {
  MemoryQueue,
  RabbitQueue,
  UnrecoverableJobError,
  type DeadLetter,
  type DomainEvent,
  type Job,
  type Queue,
  type QueueDriverOptions,
} from '../../server/queue/index.js';

const AMQP_URL = process.env.PARLEY_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const MAX_ATTEMPTS = 3;
const run = promisify(execFile);

/** One driver under test, fresh for every test. */
interface QueueFixture {
  readonly queue: Queue;
  readonly retryBaseMs: number;
  /** Puts raw bytes on a work queue behind the driver's back, as a foreign or buggy producer would. */
  readonly publishRaw?: (queue: string, body: Buffer) => Promise<void>;
  close(): Promise<void>;
}

describeQueueContract('MemoryQueue', { rawMessages: false }, () => {
  const queue = new MemoryQueue({ retryBaseMs: 20, maxAttempts: MAX_ATTEMPTS });
  return { queue, retryBaseMs: 20, close: () => queue.close() };
});

describeQueueContract('RabbitQueue', { rawMessages: true }, (broker) => {
  const prefix = broker.newPrefix();
  const queue = new RabbitQueue(AMQP_URL, { retryBaseMs: 50, maxAttempts: MAX_ATTEMPTS, prefix });
  return {
    queue,
    retryBaseMs: 50,
    publishRaw: (name, body) => withChannel((channel) => channel.sendToQueue(`${prefix}.${name}`, body)),
    close: () => queue.close(),
  };
});

interface DriverTraits {
  /**
   * Whether anything but the driver can put a message on its queues: another producer can on a broker,
   * nothing can in process memory, so only brokers are tested against bytes that are not a job.
   */
  readonly rawMessages: boolean;
}

/** The behaviour both drivers owe their callers, as documented in server/queue/queue.ts. */
function describeQueueContract(name: string, traits: DriverTraits, makeFixture: (broker: BrokerJanitor) => QueueFixture): void {
  describe(`${name} (queue contract)`, function () {
    this.timeout(15_000);
    const broker = brokerJanitor();
    let fixture: QueueFixture;
    let queue: Queue;

    beforeEach(async () => {
      fixture = makeFixture(broker);
      queue = fixture.queue;
      await queue.init();
    });

    afterEach(async () => {
      await fixture.close();
    });

    after(() => broker.sweep());

    describe('when a job is published', () => {
      it('delivers the payload once, as attempt 1', async () => {
        const deliveries: Job[] = [];
        await queue.consume('mail', async (job) => void deliveries.push(job), { concurrency: 1 });
        await queue.publish('mail', { id: 'job-1', type: 'mail.send', payload: { to: 'ada', n: 1 } });

        await eventually(() => deliveries.length === 1, 'the delivery');
        await quietFor(4 * fixture.retryBaseMs);
        expect(deliveries).to.deep.equal([{ id: 'job-1', type: 'mail.send', payload: { to: 'ada', n: 1 }, attempt: 1 }]);
        expect(await queue.depth('mail')).to.equal(0);
        expect(await queue.drainDeadLetters('mail')).to.deep.equal([]);
      });

      it('keeps jobs published before any consumer until one comes', async () => {
        await queue.publish('late', { id: 'early-1', type: 't', payload: 1 });
        await queue.publish('late', { id: 'early-2', type: 't', payload: 2 });
        const ids: string[] = [];
        await queue.consume('late', async (job) => void ids.push(job.id), { concurrency: 1 });

        await eventually(() => ids.length === 2, 'both early jobs');
        expect(ids).to.deep.equal(['early-1', 'early-2']);
      });

      it('counts jobs waiting for a consumer in depth', async () => {
        for (const n of [1, 2, 3]) await queue.publish('backlog', { id: `b-${n}`, type: 't', payload: n });
        expect(await queue.depth('backlog')).to.equal(3);

        await queue.consume('backlog', async () => undefined, { concurrency: 3 });
        await eventually(async () => (await queue.depth('backlog')) === 0, 'the backlog to drain');
      });

      it('hands the handler the payload as published, whatever the caller changes afterwards', async () => {
        const payload = { tags: ['a'] };
        await queue.publish('copy', { id: 'c-1', type: 't', payload });
        payload.tags.push('changed later');
        const seen: unknown[] = [];
        await queue.consume('copy', async (job) => void seen.push(job.payload), { concurrency: 1 });

        await eventually(() => seen.length === 1, 'the delivery');
        expect(seen[0]).to.deep.equal({ tags: ['a'] });
      });

      it('holds a delayed job back for its delay, then delivers it once, after undelayed ones', async () => {
        const seen: { id: string; at: number }[] = [];
        await queue.consume('later', async (job) => void seen.push({ id: job.id, at: Date.now() }), { concurrency: 1 });
        const publishedAt = Date.now();
        await queue.publish('later', { id: 'delayed', type: 't', payload: 1 }, { delayMs: 600 });
        await queue.publish('later', { id: 'now', type: 't', payload: 2 });

        await eventually(() => seen.length === 2, 'both jobs');
        expect(seen.map((s) => s.id)).to.deep.equal(['now', 'delayed']);
        expect(seen[1]!.at - publishedAt).to.be.at.least(600);
        await quietFor(4 * fixture.retryBaseMs);
        expect(seen).to.have.length(2);
      });

      it('refuses a negative delay', async () => {
        const err = await rejectionOf(queue.publish('later', { id: 'x', type: 't', payload: 1 }, { delayMs: -1 }));
        expect(err).to.be.instanceOf(RangeError);
      });

      it('refuses a payload that is not JSON with invalid_payload', async () => {
        const err = await rejectionOf(queue.publish('bad', { id: 'x', type: 't', payload: { n: 1n } }));
        expectCode(err, 'invalid_payload');
      });
    });

    describe('with a concurrency bound', () => {
      it('never runs more handlers at once than the bound', async () => {
        const release = deferred();
        let active = 0;
        let peak = 0;
        let done = 0;
        await queue.consume(
          'bounded',
          async () => {
            active++;
            peak = Math.max(peak, active);
            await release.promise;
            active--;
            done++;
          },
          { concurrency: 2 },
        );
        for (let n = 0; n < 6; n++) await queue.publish('bounded', { id: `k-${n}`, type: 't', payload: n });

        await eventually(() => active === 2, 'two handlers running');
        // Room for a third to start, if the bound leaked.
        await quietFor(100);
        expect(active).to.equal(2);
        release.resolve();
        await eventually(() => done === 6, 'all six jobs');
        expect(peak).to.equal(2);
      });
    });

    describe('when a handler fails', () => {
      it('retries with growing delays and stops retrying once the job succeeds', async () => {
        const tries: { attempt: number; at: number }[] = [];
        await queue.consume(
          'flaky',
          async (job) => {
            tries.push({ attempt: job.attempt, at: Date.now() });
            if (job.attempt < 3) throw new Error('smtp timeout');
          },
          { concurrency: 1 },
        );
        await queue.publish('flaky', { id: 'f-1', type: 't', payload: {} });

        await eventually(() => tries.length === 3, 'three tries');
        await quietFor(4 * fixture.retryBaseMs);
        expect(tries.map((t) => t.attempt)).to.deep.equal([1, 2, 3]);
        const [first, second, third] = tries.map((t) => t.at) as [number, number, number];
        // Timers fire late, never early (a little slack for clock granularity).
        expect(second - first).to.be.at.least(fixture.retryBaseMs - 5);
        expect(third - second).to.be.at.least(2 * fixture.retryBaseMs - 5);
        expect(third - second).to.be.greaterThan(second - first);
        expect(await queue.drainDeadLetters('flaky')).to.deep.equal([]);
      });

      it('dead-letters a job that fails every try, with the last reason, and delivers it no more', async () => {
        const attempts: number[] = [];
        await queue.consume(
          'doomed',
          async (job) => {
            attempts.push(job.attempt);
            throw new Error(`smtp refused (try ${job.attempt})`);
          },
          { concurrency: 1 },
        );
        await queue.publish('doomed', { id: 'd-1', type: 'mail.send', payload: { to: 'bob' } });

        const letters = await eventually(async () => {
          const drained = await queue.drainDeadLetters('doomed');
          return drained.length > 0 ? drained : undefined;
        }, 'the dead letter');
        expect(letters).to.deep.equal([
          { job: { id: 'd-1', type: 'mail.send', payload: { to: 'bob' }, attempt: MAX_ATTEMPTS }, reason: 'smtp refused (try 3)' },
        ]);
        await quietFor(4 * fixture.retryBaseMs);
        expect(attempts).to.deep.equal([1, 2, 3]);
        expect(await queue.drainDeadLetters('doomed')).to.deep.equal([]);
      });

      it('dead-letters at once on UnrecoverableJobError', async () => {
        const attempts: number[] = [];
        await queue.consume(
          'poison',
          async (job) => {
            attempts.push(job.attempt);
            throw new UnrecoverableJobError('no such user');
          },
          { concurrency: 1 },
        );
        await queue.publish('poison', { id: 'p-1', type: 't', payload: null });

        const letters = await eventually(async () => {
          const drained = await queue.drainDeadLetters('poison');
          return drained.length > 0 ? drained : undefined;
        }, 'the dead letter');
        expect(letters.map((l) => [l.job.id, l.job.attempt, l.reason])).to.deep.equal([['p-1', 1, 'no such user']]);
        expect(attempts).to.deep.equal([1]);
      });

      it('honours a consumer-level maxAttempts', async () => {
        const attempts: number[] = [];
        await queue.consume(
          'once',
          async (job) => {
            attempts.push(job.attempt);
            throw new Error('nope');
          },
          { concurrency: 1, maxAttempts: 1 },
        );
        await queue.publish('once', { id: 'o-1', type: 't', payload: {} });

        await eventually(async () => (await queue.drainDeadLetters('once')).length === 1, 'the dead letter');
        expect(attempts).to.deep.equal([1]);
      });
    });

    if (traits.rawMessages) {
      describe('when a message is not a valid job', () => {
        it('dead-letters it at once and keeps consuming', async () => {
          const publishRaw = fixture.publishRaw ?? (() => Promise.reject(new Error('the fixture cannot publish raw messages')));
          const ids: string[] = [];
          await queue.consume('raw', async (job) => void ids.push(job.id), { concurrency: 1 });
          await publishRaw('raw', Buffer.from('not json'));
          await publishRaw('raw', Buffer.from(JSON.stringify({ type: 'no id', payload: 1, attempt: 1 })));

          const letters: DeadLetter[] = [];
          await eventually(async () => letters.push(...(await queue.drainDeadLetters('raw'))) === 2, 'both dead letters');
          expect(letters.map((l) => l.reason)).to.deep.equal(['invalid job: body is not JSON', 'invalid job: missing id']);
          expect(letters[0]?.job.payload).to.equal('not json');

          await queue.publish('raw', { id: 'good-1', type: 't', payload: {} });
          await eventually(() => ids.includes('good-1'), 'the valid job after the poison');
          expect(ids).to.deep.equal(['good-1']);
        });
      });
    }

    describe('with domain events', () => {
      it("routes events by topic pattern, one copy to each subscriber's own queue", async () => {
        const audit: [DomainEvent, number][] = [];
        const cleanup: DomainEvent[] = [];
        await queue.subscribe('audit', ['#'], async (event, attempt) => void audit.push([event, attempt]), { concurrency: 1 });
        await queue.subscribe('cleanup', ['user.*'], async (event) => void cleanup.push(event), { concurrency: 1 });

        const deleted = domainEvent('user.deleted', { userId: 'u1' });
        const sent = domainEvent('message.sent', { messageId: 'm1' });
        const nested = domainEvent('user.profile.updated', { userId: 'u1' });
        for (const event of [deleted, sent, nested]) await queue.publishEvent(event);

        await eventually(() => audit.length === 3 && cleanup.length === 1, 'both subscribers');
        await quietFor(4 * fixture.retryBaseMs);
        expect(audit.map(([event]) => event.type).sort()).to.deep.equal(['message.sent', 'user.deleted', 'user.profile.updated']);
        expect(audit.map(([, attempt]) => attempt)).to.deep.equal([1, 1, 1]);
        expect(cleanup).to.deep.equal([deleted]);
      });

      it("retries and dead-letters a subscriber's failures in its own queues", async () => {
        const cleanupTries: number[] = [];
        let auditCount = 0;
        await queue.subscribe('audit', ['user.*'], async () => void auditCount++, { concurrency: 1 });
        await queue.subscribe(
          'cleanup',
          ['user.*'],
          async (_event, attempt) => {
            cleanupTries.push(attempt);
            throw new Error('store down');
          },
          { concurrency: 1 },
        );
        await queue.publishEvent(domainEvent('user.deleted', { userId: 'u2' }));

        const letters = await eventually(async () => {
          const drained = await queue.drainDeadLetters('events.cleanup');
          return drained.length > 0 ? drained : undefined;
        }, 'the dead letter');
        expect(letters.map((l) => [l.job.type, l.reason])).to.deep.equal([['user.deleted', 'store down']]);
        expect(cleanupTries).to.deep.equal([1, 2, 3]);
        expect(auditCount).to.equal(1);
        expect(await queue.drainDeadLetters('events.audit')).to.deep.equal([]);
      });

      it('sends a subscriber the events published after it subscribed, though earlier ones of that type had no taker', async () => {
        await queue.publishEvent(domainEvent('user.updated', { userId: 'u3' }));
        const seen: unknown[] = [];
        await queue.subscribe('profiles', ['user.updated'], async (event) => void seen.push(event.data), { concurrency: 1 });
        await queue.publishEvent(domainEvent('user.updated', { userId: 'u4' }));
        await eventually(() => seen.length === 1, 'the later event');
        await quietFor(4 * fixture.retryBaseMs);
        expect(seen).to.deep.equal([{ userId: 'u4' }]);
      });

      it('keeps events for a subscriber while it is away', async () => {
        const first = await queue.subscribe('mailer', ['message.*'], async () => undefined, { concurrency: 1 });
        await first.cancel();
        await queue.publishEvent(domainEvent('message.sent', { messageId: 'm2' }));
        expect(await queue.depth('events.mailer')).to.equal(1);

        const seen: string[] = [];
        await queue.subscribe('mailer', ['message.*'], async (event) => void seen.push(event.type), { concurrency: 1 });
        await eventually(() => seen.length === 1, 'the kept event');
      });
    });

    describe('when shutting down', () => {
      it('close() waits for an in-flight handler to finish', async () => {
        const started = deferred();
        const release = deferred();
        const order: string[] = [];
        await queue.consume(
          'slow',
          async () => {
            started.resolve();
            await release.promise;
            order.push('handler finished');
          },
          { concurrency: 1 },
        );
        await queue.publish('slow', { id: 's-1', type: 't', payload: {} });
        await started.promise;

        const closed = fixture.close().then(() => order.push('closed'));
        await quietFor(100);
        expect(order).to.deep.equal([]);
        release.resolve();
        await closed;
        expect(order).to.deep.equal(['handler finished', 'closed']);
      });

      it('cancel() stops delivery to that consumer after its in-flight job', async () => {
        const seen: string[] = [];
        const consumer = await queue.consume('stop', async (job) => void seen.push(job.id), { concurrency: 1 });
        await queue.publish('stop', { id: 'before', type: 't', payload: {} });
        await eventually(() => seen.length === 1, 'the first job');
        await consumer.cancel();

        await queue.publish('stop', { id: 'after', type: 't', payload: {} });
        expect(await queue.depth('stop')).to.equal(1);
        expect(seen).to.deep.equal(['before']);
      });

      it('refuses publishes after close() with unavailable', async () => {
        await fixture.close();
        expectCode(await rejectionOf(queue.publish('gone', { id: 'g', type: 't', payload: {} })), 'unavailable');
        expectCode(await rejectionOf(queue.ping()), 'unavailable');
      });
    });
  });
}

describe('RabbitQueue (faults and queue types)', function () {
  this.timeout(60_000);
  const broker = brokerJanitor();
  const open: Queue[] = [];

  function rabbit(options: Partial<QueueDriverOptions> = {}): RabbitQueue {
    const prefix = options.prefix ?? broker.newPrefix();
    const queue = new RabbitQueue(AMQP_URL, { retryBaseMs: 50, maxAttempts: MAX_ATTEMPTS, ...options, prefix });
    open.push(queue);
    return queue;
  }

  afterEach(async () => {
    await Promise.all(open.splice(0).map((queue) => queue.close()));
  });

  // Also when a test timed out halfway through a restart, so the broker is never left stopped.
  after(async () => {
    await startBroker();
    await broker.sweep();
  });

  describe('when RabbitMQ restarts under a running consumer', () => {
    it('fails publishes fast while it is down, then reconnects and consumes every confirmed job', async () => {
      const queue = rabbit();
      await queue.init();
      const completed = new Set<string>();
      const deliveries = new Map<string, number>();
      const brokerDown = deferred();
      await queue.consume(
        'restart',
        async (job) => {
          deliveries.set(job.id, (deliveries.get(job.id) ?? 0) + 1);
          // The first delivery of a `held` job is still running when the broker goes away, so its ack is lost.
          if (job.id.startsWith('held') && deliveries.get(job.id) === 1) await brokerDown.promise;
          completed.add(job.id);
        },
        { concurrency: 4 },
      );
      const confirmed: string[] = [];
      for (const id of ['before-1', 'before-2', 'held-1', 'held-2']) {
        await queue.publish('restart', { id, type: 't', payload: {} });
        confirmed.push(id);
      }
      await eventually(() => deliveries.get('held-1') === 1 && deliveries.get('held-2') === 1, 'the held jobs in flight');

      const bystander = rabbit();
      await bystander.init();

      try {
        await rabbitmqctl('stop_app');
        brokerDown.resolve();
        const started = Date.now();
        expectCode(await rejectionOf(queue.publish('restart', { id: 'during', type: 't', payload: {} })), 'unavailable');
        expect(Date.now() - started).to.be.below(3000);
        expectCode(await rejectionOf(queue.ping()), 'unavailable');
        const closing = Date.now();
        await bystander.close();
        expect(Date.now() - closing, 'closing while the broker is down').to.be.below(3000);
      } finally {
        await startBroker();
      }

      const afterId = 'after-1';
      await eventually(
        () => queue.publish('restart', { id: afterId, type: 't', payload: {} }).then(() => true, () => false),
        'a publish after the restart',
        20_000,
      );
      confirmed.push(afterId);
      await queue.ping();
      await eventually(() => confirmed.every((id) => completed.has(id)), 'every confirmed job', 20_000);
      // Their acks died with the old channel, so the broker delivered them again.
      expect(deliveries.get('held-1')).to.be.at.least(2);
      expect(deliveries.get('held-2')).to.be.at.least(2);
      expect(completed.has('during')).to.equal(false);
    });
  });

  describe('when RabbitMQ cannot be reached at start-up', () => {
    it('init() rejects with unavailable instead of hanging', async () => {
      // Port 1: nothing listens there, so every connection attempt is refused at once.
      const queue = new RabbitQueue('amqp://guest:guest@127.0.0.1:1', { prefix: broker.newPrefix() });
      open.push(queue);
      const started = Date.now();
      expectCode(await rejectionOf(queue.init()), 'unavailable');
      expect(Date.now() - started).to.be.below(10_000);
      expectCode(await rejectionOf(queue.publish('nowhere', { id: 'n', type: 't', payload: {} })), 'unavailable');
    });
  });

  describe('when a work queue is deleted behind its back', () => {
    it('declares it again instead of losing the confirmed job', async () => {
      const prefix = broker.newPrefix();
      const queue = rabbit({ prefix });
      await queue.init();
      await queue.publish('vanishing', { id: 'v-1', type: 't', payload: {} });
      await withChannel((channel) => channel.deleteQueue(`${prefix}.vanishing`));

      await queue.publish('vanishing', { id: 'v-2', type: 't', payload: {} });
      expect(await queue.depth('vanishing')).to.equal(1);
    });
  });

  describe('when a consumer process dies before acking', () => {
    it('redelivers the job to another consumer', async () => {
      const prefix = broker.newPrefix();
      const queue = rabbit({ prefix });
      await queue.init();
      const child = startDoomedConsumer(prefix, 'handoff');
      try {
        await child.line('ready');
        await queue.publish('handoff', { id: 'h-1', type: 't', payload: { n: 1 } });
        await child.line('started h-1');

        const received: Job[] = [];
        await queue.consume('handoff', async (job) => void received.push(job), { concurrency: 1 });
        await quietFor(100);
        expect(received, 'the job is held by the child until it dies').to.deep.equal([]);
        child.process.kill('SIGKILL');

        await eventually(() => received.length === 1, 'the redelivery');
        expect(received[0]).to.deep.include({ id: 'h-1', type: 't', payload: { n: 1 } });
      } finally {
        child.process.kill('SIGKILL');
      }
    });
  });

  describe('with quorum queues', () => {
    it('publishes, retries and dead-letters', async () => {
      const queue = rabbit({ queueType: 'quorum' });
      await queue.init();
      const tries = new Map<string, number[]>();
      await queue.consume(
        'quorum',
        async (job) => {
          tries.set(job.id, [...(tries.get(job.id) ?? []), job.attempt]);
          if (job.id === 'doomed' || job.attempt < 2) throw new Error(`failed ${job.id}`);
        },
        { concurrency: 2 },
      );
      await queue.publish('quorum', { id: 'recovers', type: 't', payload: {} });
      await queue.publish('quorum', { id: 'doomed', type: 't', payload: {} });

      const letters = await eventually(async () => {
        const drained = await queue.drainDeadLetters('quorum');
        return drained.length > 0 ? drained : undefined;
      }, 'the dead letter');
      expect(letters.map((l) => [l.job.id, l.job.attempt, l.reason])).to.deep.equal([['doomed', 3, 'failed doomed']]);
      await eventually(() => tries.get('recovers')?.length === 2, 'the recovered job');
      expect(tries.get('recovers')).to.deep.equal([1, 2]);
      expect(tries.get('doomed')).to.deep.equal([1, 2, 3]);
    });
  });
});

// ---- helpers ----

/**
 * Hands out a fresh name prefix per test and deletes what was declared under them, so the broker does
 * not fill up with test queues. One listing per suite: rabbitmqctl is slow to start.
 */
interface BrokerJanitor {
  newPrefix(): string;
  sweep(): Promise<void>;
}

function brokerJanitor(): BrokerJanitor {
  const prefixes = new Set<string>();
  return {
    newPrefix() {
      const prefix = `test-${randomUUID()}`;
      prefixes.add(prefix);
      return prefix;
    },
    async sweep() {
      if (prefixes.size === 0) return;
      const used = [...prefixes];
      prefixes.clear();
      const { stdout } = await rabbitmqctl('list_queues', '--quiet', '--no-table-headers', 'name');
      const names = stdout.split('\n').map((line) => line.trim());
      const ours = names.filter((queueName) => used.some((prefix) => queueName.startsWith(`${prefix}.`)));
      await withChannel(async (channel) => {
        for (const queueName of ours) await channel.deleteQueue(queueName);
        for (const prefix of used) await channel.deleteExchange(`${prefix}.events`);
      });
    },
  };
}

/** A short-lived plain connection, apart from the driver under test. */
async function withChannel<T>(use: (channel: Channel) => T | Promise<T>): Promise<void> {
  const connection = await connect(AMQP_URL);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    await use(channel);
    await channel.close();
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function rabbitmqctl(...args: string[]): Promise<{ stdout: string }> {
  return run('rabbitmqctl', args, { timeout: 60_000 });
}

async function startBroker(): Promise<void> {
  await rabbitmqctl('start_app');
  await rabbitmqctl('await_startup');
}

/**
 * A RabbitQueue in a child process whose handler never returns, to be killed mid-job: the broker then
 * sees the consumer's connection drop with the job unacked.
 */
function startDoomedConsumer(prefix: string, queueName: string): { process: ChildProcess; line(text: string): Promise<void> } {
  const modulePath = fileURLToPath(new URL('../../server/queue/rabbit-queue.ts', import.meta.url));
  const script = `
    const { RabbitQueue } = await import(${JSON.stringify(modulePath)});
    const queue = new RabbitQueue(${JSON.stringify(AMQP_URL)}, { prefix: ${JSON.stringify(prefix)}, retryBaseMs: 50, maxAttempts: ${MAX_ATTEMPTS} });
    await queue.init();
    await queue.consume(${JSON.stringify(queueName)}, async (job) => {
      process.stdout.write('started ' + job.id + '\\n');
      await new Promise(() => {});
    }, { concurrency: 1 });
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  return {
    process: child,
    line: (text) => eventually(() => lines.includes(text) || child.exitCode !== null, `"${text}" from the child`).then(() => {
      if (!lines.includes(text)) throw new Error(`the child exited with ${child.exitCode} before "${text}"`);
    }),
  };
}

function domainEvent(type: string, data: Record<string, unknown>): DomainEvent {
  return { eventId: randomUUID(), type, occurredAt: new Date().toISOString(), producer: 'queue-contract-test', data };
}

/** Polls `probe` until it returns something truthy, which it then returns; fails after `timeoutMs`. */
async function eventually<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Lets time pass where the point is that nothing happens (no second delivery, no third handler): an
 * absence has no event to await.
 */
function quietFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function expectCode(err: unknown, code: string): void {
  expect(err).to.be.instanceOf(ParleyError);
  expect((err as ParleyError).code).to.equal(code);
}
