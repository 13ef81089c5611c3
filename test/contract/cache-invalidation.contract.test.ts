import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { type CacheChange, type CacheInvalidation, cacheLifetimeMs, MemoryCacheInvalidation, RedisCacheInvalidation } from '../../server/cluster/index.js';
import { failOnUnhandledRejections, usePrivateRedis } from '../support/redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** What a listener heard: each change as `kind:id`, each loss as `lost`. */
function record(invalidation: CacheInvalidation): string[] {
  const heard: string[] = [];
  invalidation.listen({ changed: ({ kind, id }: CacheChange) => heard.push(`${kind}:${id}`), lost: () => heard.push('lost') });
  return heard;
}

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('CacheInvalidation (memory)', () => {
  it("tells this process's listeners at once", () => {
    const invalidation = new MemoryCacheInvalidation();
    const heard = record(invalidation);
    invalidation.publish('conversation', 'c1');
    invalidation.publish('blocks', 'u1');
    expect(heard).to.deep.equal(['conversation:c1', 'blocks:u1']);
  });
});

describe('CacheInvalidation (redis)', function () {
  this.timeout(20_000);
  failOnUnhandledRejections();
  const opened: CacheInvalidation[] = [];
  const open = async (url: string, prefix: string): Promise<RedisCacheInvalidation> => {
    const invalidation = new RedisCacheInvalidation(url, { prefix });
    opened.push(invalidation);
    await invalidation.init();
    return invalidation;
  };

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((i) => i.close()));
  });

  it('tells the publishing process at once and every other process through Redis, and nobody under another prefix', async () => {
    const prefix = `test-${randomUUID()}`;
    const [here, there, elsewhere] = [await open(REDIS_URL, prefix), await open(REDIS_URL, prefix), await open(REDIS_URL, `test-${randomUUID()}`)];
    const [heardHere, heardThere, heardElsewhere] = [record(here), record(there), record(elsewhere)];

    here.publish('conversation', 'c1');
    expect(heardHere, 'applied before publish returns').to.deep.equal(['conversation:c1']);
    there.publish('blocks', 'u1');

    await waitFor(() => heardThere.includes('conversation:c1') && heardHere.includes('blocks:u1'), 5_000, 'both changes on both nodes');
    expect(heardThere).to.include.members(['conversation:c1', 'blocks:u1']);
    expect(heardElsewhere).to.deep.equal([]);
  });

  it('ignores malformed messages on its channel', async () => {
    const prefix = `test-${randomUUID()}`;
    const node = await open(REDIS_URL, prefix);
    const heard = record(node);
    const raw = new Redis(REDIS_URL);
    try {
      for (const junk of ['not json', '{"kind":"sessions","id":"x"}', '{"kind":"blocks","id":7}', 'null', '{"kind":"blocks","id":"ok"}']) {
        await raw.publish(`${prefix}:cache-invalidation`, junk);
      }
    } finally {
      raw.disconnect();
    }
    await waitFor(() => heard.length > 0, 5_000, 'the valid change');
    expect(heard).to.deep.equal(['blocks:ok']);
  });

  describe('when Redis goes away', () => {
    const server = usePrivateRedis();

    it('drops every cached record when the link breaks and again once subscribed, keeping records briefly meanwhile', async () => {
      const prefix = `test-${randomUUID()}`;
      const [node, other] = [await open(server.current.url, prefix), await open(server.current.url, prefix)];
      const heard = record(node);
      expect(cacheLifetimeMs(node)).to.equal(30_000);

      await server.current.kill();
      await waitFor(() => heard.includes('lost'), 10_000, 'the break to be reported');
      expect(node.live).to.equal(false);
      expect(cacheLifetimeMs(node), 'while changes go unheard').to.equal(2_000);

      await server.current.restart();
      await waitFor(() => node.live && other.live, 10_000, 'both subscribed again');
      expect(heard).to.deep.equal(['lost', 'lost']);
      expect(cacheLifetimeMs(node)).to.equal(30_000);

      other.publish('conversation', 'after');
      await waitFor(() => heard.includes('conversation:after'), 10_000, 'a change after the outage');
    });
  });
});
