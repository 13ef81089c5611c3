import { expect } from 'chai';
import { ConversationService, silentRealtime } from '../../server/chat/index.js';
import { MemoryCacheInvalidation } from '../../server/cluster/index.js';
import { EventPublisher } from '../../server/events/event-publisher.js';
import { createLogger } from '../../server/logger.js';
import { MemoryQueue } from '../../server/queue/index.js';
import { MemoryStore, type Store } from '../../server/store/index.js';
import { UserService } from '../../server/users/index.js';

/** `store`, with `method` answering only once `release` is called: a store read or write still under way. */
function holding<K extends keyof Store>(store: Store, method: K): { store: Store; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (property !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        await gate;
        return result;
      };
    },
  });
  return { store: held, release };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('the membership cache, when a change is heard during a store call', () => {
  /** A group of ann (owner), bob and cid, and a ConversationService over a store whose `held` call waits. */
  async function setUp(held: keyof Store) {
    const memory = new MemoryStore();
    const { id } = await memory.createConversation({ type: 'group', title: 'g', members: [{ userId: 'ann', role: 'owner' }, { userId: 'bob', role: 'member' }, { userId: 'cid', role: 'member' }] });
    const { store, release } = holding(memory, held);
    const invalidation = new MemoryCacheInvalidation();
    const conversations = new ConversationService(store, silentRealtime, { maxGroupMembers: 10 }, invalidation);
    return { memory, id, release, invalidation, conversations };
  }

  it('does not cache a read that began before the change', async () => {
    const { id, release, invalidation, conversations } = await setUp('getConversation');

    const read = conversations.requireMember('bob', id);
    await turn();
    invalidation.publish('conversation', id);
    release();
    await read;
    expect(conversations.cachedMember('bob', id), 'the read from before the change').to.equal(undefined);

    await conversations.requireMember('bob', id);
    expect(conversations.cachedMember('bob', id)?.id, 'a read after it').to.equal(id);
  });

  it("does not cache its own change's result over a newer change heard meanwhile", async () => {
    const { memory, id, release, invalidation, conversations } = await setUp('removeMember');

    const removal = conversations.removeMember('ann', id, 'cid');
    await turn();
    // Another node removes bob while ann's removal of cid is under way; its invalidation arrives first.
    await memory.removeMember(id, 'bob');
    invalidation.publish('conversation', id);
    release();
    await removal;
    expect(conversations.cachedMember('bob', id), 'bob, removed elsewhere').to.equal(undefined);
    await conversations.requireMember('bob', id).then(
      () => expect.fail('bob is no longer a member'),
      (err: { code?: string }) => expect(err.code).to.equal('forbidden'),
    );
  });
});

describe('the block-list cache, when a change is heard during a store read', () => {
  it('does not cache a read that began before the change', async () => {
    const memory = new MemoryStore();
    const [ann, bob] = [await memory.createUser({ username: 'ann', passwordHash: 'x', displayName: null, email: null }), await memory.createUser({ username: 'bob', passwordHash: 'x', displayName: null, email: null })];
    const { store, release } = holding(memory, 'getUsers');
    const invalidation = new MemoryCacheInvalidation();
    const users = new UserService(store, silentRealtime, new EventPublisher(new MemoryQueue({ prefix: 'test' }), 'test', createLogger('silent')), invalidation);

    const read = users.hasBlocked(bob.id, ann.id);
    await turn();
    await memory.addBlock(bob.id, ann.id);
    invalidation.publish('blocks', bob.id);
    release();
    expect(await read, 'the answer from before the block').to.equal(false);
    expect(users.cachedHasBlocked(bob.id, ann.id), 'not cached').to.equal(undefined);
    expect(await users.hasBlocked(bob.id, ann.id)).to.equal(true);
  });
});
