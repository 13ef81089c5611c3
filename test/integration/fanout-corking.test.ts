import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { corkedPerTurn } from '../../server/cluster/redis-fanout.js';
import { failOnUnhandledRejections } from '../support/redis.js';
import { eventually } from '../support/server.js';
import { countWrites } from '../support/socket-writes.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** Publishes `messages` to `channel` in one event-loop turn; resolves with the writes that took. */
async function publishInOneTurn(client: Redis, channel: string, messages: readonly string[]): Promise<number> {
  const counter = countWrites(client.stream as Socket);
  await Promise.all(messages.map((m) => client.publish(channel, m)));
  return counter.calls;
}

describe("the fan-out publisher's Redis connection", function () {
  failOnUnhandledRejections();
  const messages = Array.from({ length: 10 }, (_, i) => `message ${i}`);
  let channel: string;
  let subscriber: Redis;
  let received: string[];
  let clients: Redis[];

  beforeEach(async () => {
    channel = `test-${randomUUID()}`;
    clients = [];
    received = [];
    subscriber = new Redis(REDIS_URL);
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await subscriber.subscribe(channel);
  });

  afterEach(() => {
    for (const client of [subscriber, ...clients]) client.disconnect();
  });

  async function connected(client: Redis): Promise<Redis> {
    clients.push(client);
    await client.connect();
    return client;
  }

  it('sends every command of one event-loop turn in one write, in order', async () => {
    const publisher = await connected(corkedPerTurn(new Redis(REDIS_URL, { lazyConnect: true })));

    expect(await publishInOneTurn(publisher, channel, messages)).to.equal(1);
    await eventually(() => expect(received).to.deep.equal(messages), 5_000);
  });

  it('writes command by command without it (the control)', async () => {
    const plain = await connected(new Redis(REDIS_URL, { lazyConnect: true }));

    expect(await publishInOneTurn(plain, channel, messages)).to.be.greaterThan(1);
  });

  it('corks the new connection after a reconnect too', async () => {
    const publisher = await connected(corkedPerTurn(new Redis(REDIS_URL, { lazyConnect: true, retryStrategy: () => 10 })));
    const firstSocket = publisher.stream;
    publisher.disconnect(true);
    await once(publisher, 'ready');
    expect(publisher.stream).to.not.equal(firstSocket);

    expect(await publishInOneTurn(publisher, channel, messages)).to.equal(1);
    await eventually(() => expect(received).to.deep.equal(messages), 5_000);
  });

  it('sends a command of a later turn without waiting for another', async () => {
    const publisher = await connected(corkedPerTurn(new Redis(REDIS_URL, { lazyConnect: true })));
    await publisher.publish(channel, 'first');
    const started = performance.now();
    await publisher.publish(channel, 'second');
    expect(performance.now() - started).to.be.lessThan(200);
    await eventually(() => expect(received).to.deep.equal(['first', 'second']), 5_000);
  });
});
