import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ParleyError } from '../../server/errors.js';
import { RateLimits } from '../../server/security/index.js';
import { api, registerUser, startServer } from '../support/server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** Spends until refused; how many were allowed. */
async function spendUntilRefused(consume: () => Promise<void>, atMost = 1000): Promise<number> {
  for (let n = 0; n < atMost; n++) {
    try {
      await consume();
    } catch (err) {
      expect(err).to.be.instanceOf(ParleyError);
      expect((err as ParleyError).code).to.equal('rate_limited');
      return n;
    }
  }
  throw new Error('never refused');
}

describe('a budget shared through Redis with leases', () => {
  const opened: RateLimits[] = [];
  const redis = new Redis(REDIS_URL);
  /**
   * A node's limiters, once its Redis client answers: until then the per-node insurance limiter does,
   * so a probe is spent until Redis holds it.
   */
  const node = async (prefix: string): Promise<RateLimits> => {
    const limits = RateLimits.connect(REDIS_URL, prefix);
    opened.push(limits);
    const probe = limits.create({ name: 'probe', points: 1_000_000, durationSeconds: 10, describe: 'probe' });
    // Per node: nodes of one test share a prefix, and another node's probe proves nothing of this one.
    const key = `ready-${randomUUID()}`;
    for (let attempt = 0; attempt < 100; attempt++) {
      await probe.consume(key);
      if ((await redis.get(`${prefix}:rl:probe:${key}`)) !== null) return limits;
      await sleep(20);
    }
    throw new Error('the limiters never reached Redis');
  };
  const spec = (lease: number) => ({ name: 'send', points: 10, durationSeconds: 10, describe: 'more than 10 messages', lease });

  after(async () => {
    await Promise.all(opened.map((l) => l.close()));
    redis.disconnect();
  });

  it('takes a lease of points from Redis at once and spends it locally', async () => {
    const prefix = `test-${randomUUID()}`;
    const sends = (await node(prefix)).create(spec(4));
    await sends.consume('ann');
    expect(await redis.get(`${prefix}:rl:send:ann`)).to.equal('4');
    await sends.consume('ann');
    await sends.consume('ann');
    await sends.consume('ann');
    expect(await redis.get(`${prefix}:rl:send:ann`)).to.equal('4');
    await sends.consume('ann');
    expect(await redis.get(`${prefix}:rl:send:ann`)).to.equal('8');
  });

  it('allows exactly the budget on one node, however the lease divides it', async () => {
    for (const lease of [1, 3, 4, 10, 16]) {
      const sends = (await node(`test-${randomUUID()}`)).create(spec(lease));
      expect(await spendUntilRefused(() => sends.consume('bob')), `lease ${lease}`).to.equal(10);
    }
  });

  it('gives concurrent sends of one key one refill, so none is refused early', async () => {
    const sends = (await node(`test-${randomUUID()}`)).create(spec(4));
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => sends.consume('ann')));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(10);
  });

  it('never lets two nodes together exceed the budget, and refuses at most (lease − 1) per other node early', async () => {
    const prefix = `test-${randomUUID()}`;
    const one = (await node(prefix)).create(spec(4));
    const two = (await node(prefix)).create(spec(4));
    let allowed = 0;
    for (let i = 0; i < 40; i++) {
      try {
        await (i % 2 === 0 ? one : two).consume('ann');
        allowed++;
      } catch (err) {
        expect((err as ParleyError).code).to.equal('rate_limited');
      }
    }
    expect(allowed).to.be.at.most(10);
    expect(allowed).to.be.at.least(10 - 3);
  });
});

describe("a gateway's send budget with Redis", () => {
  it('takes a tenth of the budget from Redis at a time, however large the budget', async () => {
    const prefix = `test-${randomUUID()}`;
    const server = await startServer({ store: 'memory', env: { REDIS_URL, KEY_PREFIX: prefix, MESSAGES_PER_SECOND: '100000' } });
    const redis = new Redis(REDIS_URL);
    try {
      const [ann, bob] = [await registerUser(server, 'ann'), await registerUser(server, 'bob')];
      const opened = await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'direct', userId: bob.user.id } });
      const send = (n: number) => api(server, 'POST', `/v1/conversations/${opened.body.conversation.id}/messages`, { token: ann.accessToken, body: { clientMsgId: `m${n}`, text: 'hi' } });
      for (let n = 0; n < 3; n++) expect((await send(n)).status).to.equal(201);
      // One lease of 10,000 points covers all three; a lease capped at 16 would not show this figure.
      expect(await redis.get(`${prefix}:rl:send:${ann.user.id}`)).to.equal('10000');
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
