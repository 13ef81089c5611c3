import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import mongoose from 'mongoose';
import { ParleyError, type ErrorCode } from '../../server/errors.js';
import {
  directKeyFor,
  MemoryStore,
  MongoStore,
  type ConversationRecord,
  type MemberRecord,
  type MessageDraft,
  type Store,
  type UserRecord,
} from '../../server/store/index.js';
import { dropDatabase, freshDatabaseUri, TEST_MONGODB_BASE } from '../support/mongo.js';

/**
 * One driver under test. `peer` is a second store over the same data, as a second gateway process
 * would hold; drivers whose data lives in one process have none, and the tests of races between
 * processes are not defined for them.
 */
interface StoreFixture {
  readonly store: Store;
  readonly peer?: Store;
  /**
   * Sets a conversation's published lastSeq back, as a process stopped between storing messages and
   * publishing their seq leaves it. Drivers that store and publish in two steps (multiProcess) have it.
   */
  unpublishLastSeq?(conversationId: string, lastSeq: number): Promise<void>;
  close(): Promise<void>;
}

interface StoreDriver {
  readonly name: string;
  readonly multiProcess: boolean;
  /**
   * Whether the backing server applies a conditional update atomically. FerretDB v1 does not: its
   * PostgreSQL backend reads the matching documents, applies the operators in Go and writes each one
   * back by _id, so racing updates of one document can all "match" and the last write wins. Unique
   * indexes still hold there, which is what seqs and idempotency rest on. The two tests of conditional
   * updates racing across processes are defined only against a server that has them (a real MongoDB).
   */
  readonly atomicUpdates: boolean;
  make(): StoreFixture;
}

// Known before any test is defined, so tests that cannot apply to a server are not registered at all.
const ferretDb = await servesFerretDb(TEST_MONGODB_BASE);
if (ferretDb) console.log('  (store contract: the MongoDB server is FerretDB; 2 cross-process atomic-update tests need a real MongoDB and are not defined)');

describeStoreContract({
  name: 'MemoryStore',
  multiProcess: false,
  atomicUpdates: true,
  make() {
    const store = new MemoryStore();
    return { store, close: () => store.close() };
  },
});

describeStoreContract({
  name: 'MongoStore',
  multiProcess: true,
  atomicUpdates: !ferretDb,
  make() {
    const uri = freshDatabaseUri();
    const store = new MongoStore(uri);
    const peer = new MongoStore(uri);
    return {
      store,
      peer,
      async unpublishLastSeq(conversationId, lastSeq) {
        const conn = await mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000 }).asPromise();
        try {
          await conn.db!.collection<{ _id: string }>('conversations').updateOne({ _id: conversationId }, { $set: { lastSeq } });
        } finally {
          await conn.close();
        }
      },
      async close() {
        await Promise.all([store.close(), peer.close()]);
        await dropDatabase(uri);
      },
    };
  },
});

/**
 * The behaviour every Store driver owes its callers, as documented in server/store/store.ts. One store
 * per driver serves the whole suite (creating a FerretDB database is slow), so every test works on
 * users and conversations of its own, named with fresh UUIDs.
 */
function describeStoreContract(driver: StoreDriver): void {
  describe(`${driver.name} (store contract)`, function () {
    this.timeout(30_000);
    let fixture: StoreFixture;
    let store: Store;
    /** The second process's store; only used by tests defined when `driver.multiProcess`. */
    let peer: Store;
    /** Within one process, and across two where the driver has them and the server updates atomically. */
    const atomicRaces = driver.multiProcess && driver.atomicUpdates ? [false, true] : [false];

    before(async () => {
      fixture = driver.make();
      store = fixture.store;
      await store.init();
      // After the first store, so the two do not build the same indexes at once.
      await fixture.peer?.init();
      peer = fixture.peer ?? store;
    });

    after(async () => {
      await fixture?.close();
    });

    async function newUser(username = `user-${randomUUID()}`): Promise<UserRecord> {
      return store.createUser({ username, passwordHash: 'hash', email: null, displayName: null });
    }

    async function newGroup(members: readonly MemberRecord[], title: string | null = 'group'): Promise<ConversationRecord> {
      return store.createConversation({ type: 'group', title, members });
    }

    async function newGroupOf(count: number): Promise<{ users: UserRecord[]; conversation: ConversationRecord }> {
      const users = await Promise.all(Array.from({ length: count }, () => newUser()));
      const conversation = await newGroup(users.map((u, i) => ({ userId: u.id, role: i === 0 ? 'owner' : 'member' })));
      return { users, conversation };
    }

    describe('lifecycle', () => {
      it('answers ping once initialised, and init can run again', async () => {
        await store.init();
        await store.ping();
        expect(store.driver).to.be.oneOf(['memory', 'mongodb']);
      });
    });

    describe('users', () => {
      it('creates an active user with no blocks, found by id and by username in any case', async () => {
        const username = `Alice-${randomUUID()}`;
        const user = await store.createUser({ username, passwordHash: 'h1', email: 'a@example.test', displayName: 'Alice' });

        expect(user).to.include({ username, usernameLower: username.toLowerCase(), passwordHash: 'h1', status: 'active' });
        expect(user.email).to.equal('a@example.test');
        expect(user.displayName).to.equal('Alice');
        expect(user.blockedUserIds).to.deep.equal([]);
        expect(user.createdAt).to.be.instanceOf(Date);
        expect(user.updatedAt).to.be.instanceOf(Date);
        expect(await store.getUser(user.id)).to.deep.equal(user);
        expect(await store.findUserByUsername(username.toUpperCase())).to.deep.equal(user);
        expect(Object.keys(user)).to.have.members([
          'id', 'username', 'usernameLower', 'passwordHash', 'email', 'displayName', 'status', 'blockedUserIds', 'lastSeenAt', 'settings', 'createdAt', 'updatedAt',
        ]);
      });

      it('keeps absent email and display name as null', async () => {
        const user = await newUser();
        const stored = await store.getUser(user.id);
        expect(stored?.email).to.equal(null);
        expect(stored?.displayName).to.equal(null);
      });

      it('refuses a username that differs from a taken one only in case', async () => {
        const username = `bob-${randomUUID()}`;
        await newUser(username);
        const err = await rejectionOf(newUser(username.toUpperCase()));
        expectCode(err, 'conflict');
      });

      it('lets exactly one of two concurrent sign-ups with the same username win', async () => {
        const username = `carol-${randomUUID()}`;
        const other = peer;
        const outcomes = await Promise.allSettled([
          store.createUser({ username, passwordHash: 'h', email: null, displayName: null }),
          other.createUser({ username: username.toUpperCase(), passwordHash: 'h', email: null, displayName: null }),
        ]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
        const rejected = outcomes.find((o) => o.status === 'rejected');
        expectCode(rejected?.reason, 'conflict');
      });

      it('answers null for unknown users and ids that are not ids at all', async () => {
        expect(await store.getUser('65f000000000000000000000')).to.equal(null);
        expect(await store.getUser('not-an-object-id')).to.equal(null);
        expect(await store.findUserByUsername(`nobody-${randomUUID()}`)).to.equal(null);
        expect(await store.updateUser('not-an-object-id', { displayName: 'x' })).to.equal(null);
      });

      it('gets several users in the order asked, skipping unknown ids', async () => {
        const [a, b] = await Promise.all([newUser(), newUser()]);
        const users = await store.getUsers([b!.id, 'unknown', a!.id]);
        expect(users.map((u) => u.id)).to.deep.equal([b!.id, a!.id]);
        expect(await store.getUsers([])).to.deep.equal([]);
      });

      it('updates only the fields given and moves updatedAt', async () => {
        const user = await store.createUser({ username: `dan-${randomUUID()}`, passwordHash: 'h', email: 'd@example.test', displayName: 'Dan' });
        const before = new Date();
        const updated = await store.updateUser(user.id, { displayName: null, status: 'blocked' });

        expect(updated).to.include({ id: user.id, status: 'blocked', displayName: null, email: 'd@example.test', passwordHash: 'h' });
        expect(updated!.updatedAt.getTime()).to.be.at.least(before.getTime());
        expect(updated!.createdAt.getTime()).to.equal(user.createdAt.getTime());
        expect(await store.getUser(user.id)).to.deep.equal(updated);
      });

      it('blocks idempotently and unblocks', async () => {
        const [user, other] = await Promise.all([newUser(), newUser()]);
        await store.addBlock(user.id, other!.id);
        await store.addBlock(user.id, other!.id);
        expect((await store.getUser(user!.id))!.blockedUserIds).to.deep.equal([other!.id]);

        await store.removeBlock(user!.id, other!.id);
        expect((await store.getUser(user!.id))!.blockedUserIds).to.deep.equal([]);
      });
    });

    describe('sessions', () => {
      const hour = 3_600_000;

      async function newSession(expiresInMs = hour) {
        const user = await newUser();
        return store.createSession({ id: randomUUID(), userId: user.id, tokenHash: 'hash-1', expiresAt: new Date(Date.now() + expiresInMs) });
      }

      it('creates a live session and reads it back', async () => {
        const session = await newSession();
        expect(session.revokedAt).to.equal(null);
        expect(session.tokenHash).to.equal('hash-1');
        expect(await store.getSession(session.id)).to.deep.equal(session);
        expect(await store.getSession(randomUUID())).to.equal(null);
      });

      it('rotates the secret when the expected hash matches, and only then', async () => {
        const session = await newSession();
        const newExpiry = new Date(Date.now() + 2 * hour);

        expect(await store.rotateSession(session.id, 'wrong', 'hash-2', newExpiry, new Date())).to.equal(false);
        expect(await store.rotateSession(session.id, 'hash-1', 'hash-2', newExpiry, new Date())).to.equal(true);
        expect(await store.rotateSession(session.id, 'hash-1', 'hash-3', newExpiry, new Date())).to.equal(false);

        const stored = await store.getSession(session.id);
        expect(stored?.tokenHash).to.equal('hash-2');
        expect(stored?.expiresAt.getTime()).to.equal(newExpiry.getTime());
      });

      it('lets exactly one of two concurrent rotations with the same expected hash succeed', async function () {
        const session = await newSession();
        const other = peer;
        const expiry = new Date(Date.now() + hour);
        const results = await Promise.all([
          store.rotateSession(session.id, 'hash-1', 'hash-a', expiry, new Date()),
          other.rotateSession(session.id, 'hash-1', 'hash-b', expiry, new Date()),
        ]);
        expect(results.filter(Boolean)).to.have.length(1);
        const winner = results[0] ? 'hash-a' : 'hash-b';
        expect((await store.getSession(session.id))?.tokenHash).to.equal(winner);
      });

      it('refuses to rotate a revoked session', async () => {
        const session = await newSession();
        await store.revokeSession(session.id, new Date());
        expect(await store.rotateSession(session.id, 'hash-1', 'hash-2', new Date(Date.now() + hour), new Date())).to.equal(false);
      });

      it('refuses to rotate a session expired at the given time', async () => {
        const session = await newSession();
        const later = new Date(session.expiresAt.getTime() + 1);
        expect(await store.rotateSession(session.id, 'hash-1', 'hash-2', new Date(later.getTime() + hour), later)).to.equal(false);
        expect(await store.rotateSession(session.id, 'hash-1', 'hash-2', new Date(later.getTime() + hour), session.expiresAt)).to.equal(false);
        expect((await store.getSession(session.id))?.tokenHash).to.equal('hash-1');
      });

      it('keeps the first revocation time', async () => {
        const session = await newSession();
        const first = new Date(Date.now() - 1000);
        await store.revokeSession(session.id, first);
        await store.revokeSession(session.id, new Date());
        expect((await store.getSession(session.id))?.revokedAt?.getTime()).to.equal(first.getTime());
      });

      it("revokes every session of one user and no one else's", async () => {
        const [user, other] = await Promise.all([newUser(), newUser()]);
        const expiresAt = new Date(Date.now() + hour);
        const mine = await Promise.all(
          [1, 2].map(() => store.createSession({ id: randomUUID(), userId: user!.id, tokenHash: 'h', expiresAt })),
        );
        const theirs = await store.createSession({ id: randomUUID(), userId: other!.id, tokenHash: 'h', expiresAt });
        const at = new Date();

        await store.revokeUserSessions(user!.id, at);

        for (const s of mine) expect((await store.getSession(s.id))?.revokedAt?.getTime()).to.equal(at.getTime());
        expect((await store.getSession(theirs.id))?.revokedAt).to.equal(null);
      });
    });

    describe('conversations', () => {
      it('creates a conversation with no messages and every member cursor at 0', async () => {
        const { users, conversation } = await newGroupOf(3);

        expect(conversation).to.include({ type: 'group', title: 'group', lastSeq: 0, lastMessage: null });
        expect(conversation.directKey).to.equal(`group:${conversation.id}`);
        expect(conversation.members).to.deep.equal(users.map((u, i) => ({ userId: u.id, role: i === 0 ? 'owner' : 'member' })));
        expect(conversation.lastActivityAt.getTime()).to.equal(conversation.createdAt.getTime());
        expect(await store.getConversation(conversation.id)).to.deep.equal(conversation);

        const cursors = await store.getCursors(conversation.id);
        expect(sortByUser(cursors)).to.deep.equal(
          sortByUser(users.map((u) => ({ conversationId: conversation.id, userId: u.id, readSeq: 0, deliveredSeq: 0 }))),
        );
      });

      it('keeps one direct conversation per pair, whoever creates it', async () => {
        const [a, b] = await Promise.all([newUser(), newUser()]);
        const directKey = directKeyFor(a!.id, b!.id);
        const members: MemberRecord[] = [
          { userId: a!.id, role: 'member' },
          { userId: b!.id, role: 'member' },
        ];
        const created = await store.createConversation({ type: 'direct', title: null, members, directKey });

        const err = await rejectionOf(store.createConversation({ type: 'direct', title: null, members, directKey: directKeyFor(b!.id, a!.id) }));
        expectCode(err, 'conflict');
        expect(await store.findConversationByDirectKey(directKeyFor(b!.id, a!.id))).to.deep.equal(created);
        expect(await store.findConversationByDirectKey(`direct:${randomUUID()}`)).to.equal(null);
      });

      it('lets exactly one of two concurrent creations of a direct conversation win', async () => {
        const [a, b] = await Promise.all([newUser(), newUser()]);
        const members: MemberRecord[] = [
          { userId: a!.id, role: 'member' },
          { userId: b!.id, role: 'member' },
        ];
        const other = peer;
        const outcomes = await Promise.allSettled([
          store.createConversation({ type: 'direct', title: null, members, directKey: directKeyFor(a!.id, b!.id) }),
          other.createConversation({ type: 'direct', title: null, members, directKey: directKeyFor(b!.id, a!.id) }),
        ]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
        expectCode(outcomes.find((o) => o.status === 'rejected')?.reason, 'conflict');
      });

      it("lists a user's conversations newest activity first, up to the limit", async () => {
        const [me, stranger] = await Promise.all([newUser(), newUser()]);
        await newGroup([{ userId: me!.id, role: 'owner' }], 'quiet');
        const busy = await newGroup([{ userId: me!.id, role: 'owner' }], 'busy');
        const recent = await newGroup([{ userId: me!.id, role: 'owner' }], 'recent');
        await newGroup([{ userId: stranger!.id, role: 'owner' }], 'not mine');
        const soon = Date.now() + 60_000;
        await store.appendMessages(recent.id, [draft(me!.id, { createdAt: new Date(soon + 2000) })]);
        await store.appendMessages(busy.id, [draft(me!.id, { createdAt: new Date(soon + 1000) })]);

        const all = await store.listConversations(me!.id, 10);
        expect(all.map((c) => c.title)).to.deep.equal(['recent', 'busy', 'quiet']);
        expect(all[0]!.lastActivityAt.getTime()).to.equal(soon + 2000);
        expect((await store.listConversations(me!.id, 2)).map((c) => c.id)).to.deep.equal([recent.id, busy.id]);
      });

      it('adds only members not yet present, with their cursors at 0', async () => {
        const { users, conversation } = await newGroupOf(2);
        const newcomer = await newUser();
        const updated = await store.addMembers(conversation.id, [
          { userId: users[1]!.id, role: 'admin' },
          { userId: newcomer.id, role: 'member' },
        ]);

        expect(updated?.members).to.deep.equal([...conversation.members, { userId: newcomer.id, role: 'member' }]);
        expect(await store.getConversation(conversation.id)).to.deep.equal(updated);
        expect(await store.getUserCursors(newcomer.id, [conversation.id])).to.deep.equal([
          { conversationId: conversation.id, userId: newcomer.id, readSeq: 0, deliveredSeq: 0 },
        ]);
        expect((await store.listConversations(newcomer.id, 10)).map((c) => c.id)).to.deep.equal([conversation.id]);
        expect(await store.addMembers(randomUUID(), [{ userId: newcomer.id, role: 'member' }])).to.equal(null);
      });

      it('removes a member, who then no longer sees the conversation listed', async () => {
        const { users, conversation } = await newGroupOf(3);
        const updated = await store.removeMember(conversation.id, users[1]!.id);

        expect(updated?.members.map((m) => m.userId)).to.deep.equal([users[0]!.id, users[2]!.id]);
        expect(await store.getConversation(conversation.id)).to.deep.equal(updated);
        expect(await store.listConversations(users[1]!.id, 10)).to.deep.equal([]);
        expect(await store.removeMember(randomUUID(), users[1]!.id)).to.equal(null);
      });
    });

    describe('appendMessages', () => {
      it('stores drafts in order with seqs 1..n, as drafted', async () => {
        const { users, conversation } = await newGroupOf(2);
        const drafts = [
          draft(users[0]!.id, { text: 'one', meta: { kind: 'note' } }),
          draft(users[1]!.id, { text: 'two' }),
          draft(users[0]!.id, { text: 'three' }),
        ];
        const results = await store.appendMessages(conversation.id, drafts);

        expect(results.map((r) => [r.message.seq, r.duplicate])).to.deep.equal([[1, false], [2, false], [3, false]]);
        results.forEach(({ message }, i) => {
          const d = drafts[i]!;
          const { senderId, clientMsgId, text, meta } = d;
          expect(message).to.deep.include({ conversationId: conversation.id, senderId, clientMsgId, text, meta });
          expect(message).to.include({ editedAt: null, deletedAt: null });
          expect(message.hiddenFor).to.deep.equal([]);
          expect(message.createdAt.getTime()).to.equal(d.createdAt.getTime());
        });
        expect(await store.getMessage(results[0]!.message.id)).to.deep.equal(results[0]!.message);
      });

      it('stores a meta key named __proto__ as data, not as a prototype', async () => {
        // The API refuses such keys; a store must still never turn data into an object's prototype.
        const { users, conversation } = await newGroupOf(1);
        const meta = JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown>;
        const [result] = await store.appendMessages(conversation.id, [draft(users[0]!.id, { meta })]);
        const stored = await store.getMessage(result!.message.id);
        for (const message of [result!.message, stored!]) {
          expect(Object.getPrototypeOf(message.meta)).to.equal(Object.prototype);
          expect((message.meta as { admin?: unknown }).admin).to.equal(undefined);
        }
      });

      it('continues from the last seq on later calls', async () => {
        const { users, conversation } = await newGroupOf(1);
        await store.appendMessages(conversation.id, [draft(users[0]!.id), draft(users[0]!.id)]);
        const results = await store.appendMessages(conversation.id, [draft(users[0]!.id)]);
        expect(results[0]!.message.seq).to.equal(3);
      });

      it('stores a clientMsgId repeated within one call once, answering the original', async () => {
        const { users, conversation } = await newGroupOf(1);
        const first = draft(users[0]!.id, { text: 'first' });
        const results = await store.appendMessages(conversation.id, [first, { ...first, text: 'resent' }, draft(users[0]!.id)]);

        expect(results.map((r) => [r.message.seq, r.duplicate])).to.deep.equal([[1, false], [1, true], [2, false]]);
        expect(results[1]!.message).to.deep.equal(results[0]!.message);
        expect(await listAll(conversation.id, users[0]!.id)).to.have.length(2);
      });

      it('answers a clientMsgId stored by an earlier call with the original, storing nothing and leaving no gap', async () => {
        const { users, conversation } = await newGroupOf(1);
        const sender = users[0]!.id;
        const [original] = await store.appendMessages(conversation.id, [draft(sender, { clientMsgId: 'c-1', text: 'hello' })]);
        const results = await store.appendMessages(conversation.id, [
          draft(sender),
          draft(sender, { clientMsgId: 'c-1', text: 'hello again' }),
          draft(sender),
        ]);

        expect(results.map((r) => [r.message.seq, r.duplicate])).to.deep.equal([[2, false], [1, true], [3, false]]);
        expect(results[1]!.message).to.deep.equal(original!.message);
        expect((await listAll(conversation.id, sender)).map((m) => m.seq)).to.deep.equal([1, 2, 3]);
      });

      it('keeps clientMsgIds apart per sender and per conversation', async () => {
        const { users, conversation } = await newGroupOf(2);
        const other = await newGroup([{ userId: users[0]!.id, role: 'owner' }]);
        const results = await store.appendMessages(conversation.id, [
          draft(users[0]!.id, { clientMsgId: 'same' }),
          draft(users[1]!.id, { clientMsgId: 'same' }),
        ]);
        const elsewhere = await store.appendMessages(other.id, [draft(users[0]!.id, { clientMsgId: 'same' })]);
        expect(results.map((r) => r.duplicate)).to.deep.equal([false, false]);
        expect(elsewhere[0]).to.include({ duplicate: false });
      });

      it('refuses a conversation that does not exist', async () => {
        const user = await newUser();
        expectCode(await rejectionOf(store.appendMessages(randomUUID(), [draft(user.id)])), 'not_found');
        expectCode(await rejectionOf(store.appendMessages(randomUUID(), [])), 'not_found');
      });

      it("brings the conversation's lastSeq, lastMessage and lastActivityAt up to the newest message", async () => {
        const { users, conversation } = await newGroupOf(2);
        const at = new Date(Date.now() + 5000);
        const results = await store.appendMessages(conversation.id, [draft(users[0]!.id), draft(users[1]!.id, { text: 'newest', createdAt: at })]);
        const newest = results[1]!.message;

        const stored = await store.getConversation(conversation.id);
        expect(stored?.lastSeq).to.equal(2);
        expect(stored?.lastMessage).to.deep.equal({ id: newest.id, seq: 2, senderId: users[1]!.id, text: 'newest', createdAt: at });
        expect(stored?.lastActivityAt.getTime()).to.equal(at.getTime());
      });

      it("moves each sender's read and delivered cursors to their newest message, and no one else's", async () => {
        const { users, conversation } = await newGroupOf(3);
        const [alice, bob, carol] = users.map((u) => u.id) as [string, string, string];
        await store.appendMessages(conversation.id, [draft(alice), draft(bob), draft(alice)]);

        const cursors = new Map((await store.getCursors(conversation.id)).map((c) => [c.userId, c]));
        expect(cursors.get(alice)).to.include({ readSeq: 3, deliveredSeq: 3 });
        expect(cursors.get(bob)).to.include({ readSeq: 2, deliveredSeq: 2 });
        expect(cursors.get(carol)).to.include({ readSeq: 0, deliveredSeq: 0 });
      });

      it('never moves a sender cursor back', async () => {
        const { users, conversation } = await newGroupOf(1);
        const sender = users[0]!.id;
        await store.appendMessages(conversation.id, [draft(sender)]);
        await store.advanceCursor(conversation.id, sender, 'read', 10);
        await store.appendMessages(conversation.id, [draft(sender)]);
        expect(await store.getUserCursors(sender, [conversation.id])).to.deep.equal([
          { conversationId: conversation.id, userId: sender, readSeq: 10, deliveredSeq: 10 },
        ]);
      });

      it('gives 20 concurrent appends gapless seqs, each batch in draft order', async () => {
        const { users, conversation } = await newGroupOf(4);
        const batches = Array.from({ length: 20 }, (_, i) => users.map((u) => draft(u.id, { text: `batch ${i}` })));
        const results = await Promise.all(batches.map((drafts) => store.appendMessages(conversation.id, drafts)));

        await expectGapless(conversation.id, users[0]!.id, results.flat().map((r) => r.message.seq), 80);
        for (const batch of results) expectIncreasing(batch.map((r) => r.message.seq));
      });

      if (driver.multiProcess) it('gives concurrent appends from two processes gapless seqs', async () => {
        const { users, conversation } = await newGroupOf(3);
        const calls = Array.from({ length: 24 }, (_, i) => {
          const via = i % 2 === 0 ? store : peer;
          return via.appendMessages(conversation.id, users.map((u) => draft(u.id, { text: `call ${i}` })));
        });
        const results = await Promise.all(calls);

        await expectGapless(conversation.id, users[0]!.id, results.flat().map((r) => r.message.seq), 72);
        for (const batch of results) expectIncreasing(batch.map((r) => r.message.seq));
      });

      for (const across of atomicRaces) {
      it(`leaves lastSeq, lastMessage and the senders' cursors at the newest messages after appends race ${across ? 'across two processes' : 'within one process'}`, async function () {
        const { users, conversation } = await newGroupOf(3);
        const via = [store, across ? peer : store];
        const results = (
          await Promise.all(
            Array.from({ length: 24 }, (_, i) => via[i % 2]!.appendMessages(conversation.id, users.map((u) => draft(u.id, { text: `call ${i}` })))),
          )
        ).flat();

        const newest = results.find((r) => r.message.seq === 72)!.message;
        for (const view of via) {
          const c = await view.getConversation(conversation.id);
          expect(c?.lastSeq).to.equal(72);
          expect(c?.lastMessage).to.deep.include({ id: newest.id, seq: 72, text: newest.text });
        }
        const cursors = new Map((await store.getCursors(conversation.id)).map((c) => [c.userId, c]));
        for (const u of users) {
          const newestOwn = Math.max(...results.filter((r) => r.message.senderId === u.id).map((r) => r.message.seq));
          expect(cursors.get(u.id)).to.include({ readSeq: newestOwn, deliveredSeq: newestOwn });
        }
      });
      }

      if (driver.multiProcess) it('stores a clientMsgId sent through two processes at once only once', async () => {
        const { users, conversation } = await newGroupOf(2);
        const sender = users[0]!.id;
        // Each resend races other traffic, so some attempts collide on seq and some on clientMsgId.
        const resent = Array.from({ length: 10 }, (_, i) => draft(sender, { text: `resent ${i}` }));
        const results = await Promise.all(
          resent.flatMap((d) => [
            store.appendMessages(conversation.id, [draft(users[1]!.id), d]),
            peer.appendMessages(conversation.id, [d, draft(users[1]!.id)]),
          ]),
        );

        const all = await listAll(conversation.id, sender);
        expect(all).to.have.length(30);
        await expectGapless(conversation.id, sender, all.map((m) => m.seq), 30);
        for (const d of resent) {
          const outcomes = results.flat().filter((r) => r.message.clientMsgId === d.clientMsgId);
          expect(outcomes).to.have.length(2);
          expect(outcomes.filter((r) => !r.duplicate)).to.have.length(1);
          expect(new Set(outcomes.map((r) => r.message.id)).size).to.equal(1);
          expect(all.filter((m) => m.clientMsgId === d.clientMsgId)).to.have.length(1);
        }
      });
    });

    describe('listMessages', () => {
      async function conversationWith(count: number) {
        const { users, conversation } = await newGroupOf(2);
        await store.appendMessages(conversation.id, Array.from({ length: count }, (_, i) => draft(users[i % 2]!.id, { text: `m${i + 1}` })));
        return { users, conversation };
      }

      it('pages forward after a seq, oldest first', async () => {
        const { users, conversation } = await conversationWith(10);
        const page = await store.listMessages(conversation.id, { viewerId: users[0]!.id, afterSeq: 3, limit: 4 });
        expect(page.map((m) => m.seq)).to.deep.equal([4, 5, 6, 7]);
        expect((await store.listMessages(conversation.id, { viewerId: users[0]!.id, afterSeq: 10, limit: 4 }))).to.deep.equal([]);
      });

      it('pages backward before a seq with the newest page, still oldest first', async () => {
        const { users, conversation } = await conversationWith(10);
        const page = await store.listMessages(conversation.id, { viewerId: users[0]!.id, beforeSeq: 9, limit: 3 });
        expect(page.map((m) => m.seq)).to.deep.equal([6, 7, 8]);
        const start = await store.listMessages(conversation.id, { viewerId: users[0]!.id, beforeSeq: 3, limit: 5 });
        expect(start.map((m) => m.seq)).to.deep.equal([1, 2]);
      });

      it('answers the oldest messages first without bounds, and the window between two bounds', async () => {
        const { users, conversation } = await conversationWith(10);
        const first = await store.listMessages(conversation.id, { viewerId: users[0]!.id, limit: 3 });
        expect(first.map((m) => m.text)).to.deep.equal(['m1', 'm2', 'm3']);
        const window = await store.listMessages(conversation.id, { viewerId: users[0]!.id, afterSeq: 2, beforeSeq: 8, limit: 3 });
        expect(window.map((m) => m.seq)).to.deep.equal([3, 4, 5]);
      });

      it('leaves out messages hidden for the viewer, and only for that viewer', async () => {
        const { users, conversation } = await conversationWith(5);
        const [viewer, other] = users.map((u) => u.id) as [string, string];
        const hidden = (await store.listMessages(conversation.id, { viewerId: viewer, limit: 10 }))[2]!;
        await store.hideMessageForUser(hidden.id, viewer);
        await store.hideMessageForUser(hidden.id, viewer);

        expect((await store.listMessages(conversation.id, { viewerId: viewer, limit: 10 })).map((m) => m.seq)).to.deep.equal([1, 2, 4, 5]);
        expect((await store.listMessages(conversation.id, { viewerId: viewer, beforeSeq: 5, limit: 3 })).map((m) => m.seq)).to.deep.equal([1, 2, 4]);
        expect((await store.listMessages(conversation.id, { viewerId: other, limit: 10 })).map((m) => m.seq)).to.deep.equal([1, 2, 3, 4, 5]);
        expect((await store.getMessage(hidden.id))?.hiddenFor).to.deep.equal([viewer]);
      });
    });

    describe('editing and deleting messages', () => {
      async function oneMessage() {
        const { users, conversation } = await newGroupOf(1);
        const [result] = await store.appendMessages(conversation.id, [draft(users[0]!.id, { text: 'original', meta: { link: 'x' } })]);
        return result!.message;
      }

      it('edits the text and records when', async () => {
        const message = await oneMessage();
        const at = new Date();
        const edited = await store.editMessage(message.id, 'edited', at);

        expect(edited).to.deep.equal({ ...message, text: 'edited', editedAt: at });
        expect(await store.getMessage(message.id)).to.deep.equal(edited);
      });

      it('leaves a tombstone that keeps id and seq, and refuses to edit it', async () => {
        const message = await oneMessage();
        const at = new Date();
        const tombstone = await store.deleteMessageForEveryone(message.id, at);

        expect(tombstone).to.deep.equal({ ...message, text: '', meta: null, deletedAt: at });
        expect(await store.editMessage(message.id, 'too late', new Date())).to.equal(null);
        expect(await store.getMessage(message.id)).to.deep.equal(tombstone);
      });

      it('keeps the first deletion when deleted again', async () => {
        const message = await oneMessage();
        const first = await store.deleteMessageForEveryone(message.id, new Date(Date.now() - 1000));
        expect(await store.deleteMessageForEveryone(message.id, new Date())).to.deep.equal(first);
      });

      it('answers null for messages that do not exist', async () => {
        expect(await store.getMessage(randomUUID())).to.equal(null);
        expect(await store.editMessage(randomUUID(), 'x', new Date())).to.equal(null);
        expect(await store.deleteMessageForEveryone(randomUUID(), new Date())).to.equal(null);
        await store.hideMessageForUser(randomUUID(), randomUUID());
      });
    });

    describe('cursors', () => {
      it('moves the read cursor forward and lifts delivered with it', async () => {
        const { users, conversation } = await newGroupOf(1);
        const result = await store.advanceCursor(conversation.id, users[0]!.id, 'read', 5);
        expect(result).to.deep.equal({ moved: true, cursor: { conversationId: conversation.id, userId: users[0]!.id, readSeq: 5, deliveredSeq: 5 } });
      });

      it('never moves a cursor back: a lower or equal seq is a no-op that says so', async () => {
        const { users, conversation } = await newGroupOf(1);
        const userId = users[0]!.id;
        await store.advanceCursor(conversation.id, userId, 'delivered', 8);
        await store.advanceCursor(conversation.id, userId, 'read', 5);
        const expected = { conversationId: conversation.id, userId, readSeq: 5, deliveredSeq: 8 };

        expect(await store.advanceCursor(conversation.id, userId, 'read', 3)).to.deep.equal({ moved: false, cursor: expected });
        expect(await store.advanceCursor(conversation.id, userId, 'read', 5)).to.deep.equal({ moved: false, cursor: expected });
        expect(await store.advanceCursor(conversation.id, userId, 'delivered', 7)).to.deep.equal({ moved: false, cursor: expected });
        expect(await store.getCursors(conversation.id)).to.deep.equal([expected]);
      });

      it('moves delivered without touching read', async () => {
        const { users, conversation } = await newGroupOf(1);
        const result = await store.advanceCursor(conversation.id, users[0]!.id, 'delivered', 4);
        expect(result.moved).to.equal(true);
        expect(result.cursor).to.include({ readSeq: 0, deliveredSeq: 4 });
      });

      it('reading below the delivered cursor still moves read and leaves delivered', async () => {
        const { users, conversation } = await newGroupOf(1);
        await store.advanceCursor(conversation.id, users[0]!.id, 'delivered', 9);
        const result = await store.advanceCursor(conversation.id, users[0]!.id, 'read', 4);
        expect(result.moved).to.equal(true);
        expect(result.cursor).to.include({ readSeq: 4, deliveredSeq: 9 });
      });

      it('creates a cursor that does not exist yet', async () => {
        const { conversation } = await newGroupOf(1);
        const outsider = await newUser();
        const result = await store.advanceCursor(conversation.id, outsider.id, 'read', 2);
        expect(result).to.deep.equal({ moved: true, cursor: { conversationId: conversation.id, userId: outsider.id, readSeq: 2, deliveredSeq: 2 } });
      });

      for (const across of atomicRaces) {
      it(`reports exactly one move when two advances to the same seq race ${across ? 'across two processes' : 'within one process'}`, async function () {
        const { users, conversation } = await newGroupOf(1);
        const other = across ? peer : store;
        const results = await Promise.all([
          store.advanceCursor(conversation.id, users[0]!.id, 'read', 6),
          other.advanceCursor(conversation.id, users[0]!.id, 'read', 6),
        ]);
        expect(results.filter((r) => r.moved)).to.have.length(1);
        for (const r of results) expect(r.cursor).to.include({ readSeq: 6, deliveredSeq: 6 });
      });
      }

      it("gets one user's cursors in the conversations asked, leaving out missing ones", async () => {
        const user = await newUser();
        const a = await newGroup([{ userId: user.id, role: 'owner' }]);
        const b = await newGroup([{ userId: user.id, role: 'owner' }]);
        await store.advanceCursor(b.id, user.id, 'read', 3);

        const cursors = await store.getUserCursors(user.id, [b.id, randomUUID(), a.id]);
        expect(cursors).to.deep.equal([
          { conversationId: b.id, userId: user.id, readSeq: 3, deliveredSeq: 3 },
          { conversationId: a.id, userId: user.id, readSeq: 0, deliveredSeq: 0 },
        ]);
        expect(await store.getUserCursors(user.id, [])).to.deep.equal([]);
      });
    });

    describe('returned records', () => {
      it('cannot change stored state by being mutated', async () => {
        const { users, conversation } = await newGroupOf(1);
        const user = users[0]!;
        const [result] = await store.appendMessages(conversation.id, [draft(user.id, { text: 'kept' })]);
        const message = result!.message;
        const cursor = (await store.advanceCursor(conversation.id, user.id, 'read', 1)).cursor;

        // Frozen records throw on assignment in strict mode; either way the stored state must not change.
        attempt(() => Object.assign(user as object, { username: 'changed', status: 'deleted' }));
        attempt(() => Object.assign(conversation as object, { title: 'changed', lastSeq: 99 }));
        attempt(() => Object.assign(message as object, { text: 'changed', seq: 99 }));
        attempt(() => Object.assign(cursor as object, { readSeq: 99 }));

        expect(await store.getUser(user.id)).to.include({ status: 'active' }).and.not.include({ username: 'changed' });
        expect(await store.getConversation(conversation.id)).to.include({ title: 'group', lastSeq: 1 });
        expect(await store.getMessage(message.id)).to.include({ text: 'kept', seq: 1 });
        expect((await store.getUserCursors(user.id, [conversation.id]))[0]).to.include({ readSeq: 1 });
      });
    });

    describe('retention', () => {
      const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
      async function sweep(type: 'direct' | 'group', before: Date): Promise<void> {
        while ((await store.deleteMessagesBefore(type, before, 500)) === 500);
      }

      it("deletes one conversation type's messages older than the cutoff, keeps each conversation's newest, and seqs go on", async () => {
        const { users, conversation: group } = await newGroupOf(2);
        const [a, b] = users as [UserRecord, UserRecord];
        const direct = await store.createConversation({
          type: 'direct',
          title: null,
          members: [{ userId: a.id, role: 'member' }, { userId: b.id, role: 'member' }],
          directKey: directKeyFor(a.id, b.id),
        });
        const { conversation: quiet } = await newGroupOf(1);
        for (const c of [group, direct]) {
          await store.appendMessages(c.id, [draft(a.id, { createdAt: daysAgo(40) }), draft(b.id, { createdAt: daysAgo(40) }), draft(a.id, { createdAt: daysAgo(1) })]);
        }
        await store.appendMessages(quiet.id, [draft(quiet.members[0]!.userId, { createdAt: daysAgo(50) }), draft(quiet.members[0]!.userId, { createdAt: daysAgo(45) })]);

        await sweep('group', daysAgo(30));
        expect((await listAll(group.id, a.id)).map((m) => m.seq)).to.deep.equal([3]);
        expect((await listAll(quiet.id, quiet.members[0]!.userId)).map((m) => m.seq), 'the newest stays even when old').to.deep.equal([2]);
        expect((await listAll(direct.id, a.id)).map((m) => m.seq), 'another type is untouched').to.deep.equal([1, 2, 3]);
        const [next] = await store.appendMessages(group.id, [draft(b.id)]);
        expect(next!.message.seq).to.equal(4);
        expect((await store.getConversation(group.id))?.lastSeq).to.equal(4);
      });

      it('deletes at most `limit` messages a call', async () => {
        const { users, conversation } = await newGroupOf(1);
        await store.appendMessages(conversation.id, Array.from({ length: 5 }, () => draft(users[0]!.id, { createdAt: daysAgo(60) })));
        expect(await store.deleteMessagesBefore('group', daysAgo(30), 2)).to.equal(2);
      });

      // Defined for the driver that stores messages and publishes their seq in two steps.
      if (driver.multiProcess) it('deletes old messages even where a conversation holds many at or above its published lastSeq', async () => {
        const { users, conversation: stalled } = await newGroupOf(1);
        const { conversation: other } = await newGroupOf(1);
        const author = users[0]!.id;
        // More than a page of conversations (200) could make room for, if kept messages were read at all.
        const stuck = 250;
        await store.appendMessages(stalled.id, Array.from({ length: stuck }, () => draft(author, { createdAt: daysAgo(60) })));
        await fixture.unpublishLastSeq!(stalled.id, 1);
        await store.appendMessages(other.id, Array.from({ length: 3 }, () => draft(other.members[0]!.userId, { createdAt: daysAgo(60) })));

        // Every conversation before `other` keeps what sits at or above its lastSeq; those must not take `other`'s turn.
        let deleted = 0;
        for (let n; (n = await store.deleteMessagesBefore('group', daysAgo(30), 2)) > 0; ) deleted += n;
        expect((await listAll(other.id, other.members[0]!.userId)).map((m) => m.seq)).to.deep.equal([3]);
        expect(await listAll(stalled.id, author), 'nothing at or above the published lastSeq').to.have.length(stuck);
      });

      it('deletes sessions that expired or were revoked before the cutoff, and no live one', async () => {
        const user = await newUser();
        const session = (expiresAt: Date) => store.createSession({ id: randomUUID(), userId: user.id, tokenHash: 'h', expiresAt });
        const [expired, revoked, live] = await Promise.all([session(daysAgo(1)), session(new Date(Date.now() + 86_400_000)), session(new Date(Date.now() + 86_400_000))]);
        await store.revokeSession(revoked.id, daysAgo(1));
        expect(await store.deleteSessionsEndedBefore(new Date())).to.be.at.least(2);
        expect(await store.getSession(expired.id)).to.equal(null);
        expect(await store.getSession(revoked.id)).to.equal(null);
        expect(await store.getSession(live.id)).to.not.equal(null);
      });

      it('deletes the claims of one prefix made before the cutoff', async () => {
        const prefix = `event:${randomUUID()}:`;
        const other = `other:${randomUUID()}`;
        await Promise.all([store.claim(`${prefix}1`), store.decide(`${prefix}2`, 'x'), store.claim(other)]);
        expect(await store.deleteClaimsBefore(prefix, daysAgo(1)), 'none is that old').to.equal(0);
        expect(await store.deleteClaimsBefore(prefix, new Date(Date.now() + 1_000))).to.equal(2);
        expect(await store.isClaimed(`${prefix}1`)).to.equal(false);
        expect(await store.isClaimed(other)).to.equal(true);
      });
    });

    describe('claims and decisions', () => {
      it('lets the first claim of a key win, once', async () => {
        const key = `claim-${randomUUID()}`;
        expect(await store.isClaimed(key)).to.equal(false);
        const results = await Promise.all([store.claim(key), peer.claim(key), store.claim(key)]);
        expect(results.filter(Boolean)).to.have.length(1);
        expect(await store.isClaimed(key)).to.equal(true);
      });

      it('keeps the first decision and tells every later caller what it was', async () => {
        const key = `decide-${randomUUID()}`;
        const results = await Promise.all([store.decide(key, 'deliver'), peer.decide(key, 'withdraw')]);
        expect(results[0]).to.equal(results[1]);
        expect(await store.decide(key, 'something else')).to.equal(results[0]);
      });
    });

    describe('last seen and settings', () => {
      it('starts with no last seen and default settings, and only moves last seen forward', async () => {
        const user = await newUser();
        expect(user.lastSeenAt).to.equal(null);
        expect(user.settings).to.deep.equal({ hideLastSeen: false, notifyOnRead: false });
        const later = new Date(Date.now() + 5000);
        await store.setLastSeen(user.id, later);
        await store.setLastSeen(user.id, new Date(Date.now() - 5000));
        expect((await store.getUser(user.id))?.lastSeenAt?.getTime()).to.equal(later.getTime());
      });

      it('updates settings', async () => {
        const user = await newUser();
        const updated = await store.updateUser(user.id, { settings: { hideLastSeen: true, notifyOnRead: true } });
        expect(updated?.settings).to.deep.equal({ hideLastSeen: true, notifyOnRead: true });
        expect((await store.getUser(user.id))?.settings).to.deep.equal({ hideLastSeen: true, notifyOnRead: true });
      });
    });

    describe('message follow-up outbox', () => {
      it('lists stored messages as pending until their follow-up is marked done', async () => {
        const { users, conversation } = await newGroupOf(1);
        const [a, b] = await store.appendMessages(conversation.id, [draft(users[0]!.id), draft(users[0]!.id)]);
        const pending = async () => (await store.listPendingFollowUps(new Date(Date.now() + 1000), 10_000)).map((m) => m.id);
        expect(await pending()).to.include.members([a!.message.id, b!.message.id]);
        expect(await store.listPendingFollowUps(new Date(0), 10)).to.deep.equal([]);
        await store.markFollowUpsDone([a!.message.id]);
        const left = await pending();
        expect(left).to.include(b!.message.id);
        expect(left).to.not.include(a!.message.id);
        await store.markFollowUpsDone([b!.message.id]);
      });
    });

    describe('account deletion', () => {
      it('removes the user from every conversation and nulls their sender id, keeping idempotency', async () => {
        const gone = await newUser();
        const other = await newUser();
        const group = await newGroup([{ userId: gone.id, role: 'owner' }, { userId: other.id, role: 'member' }]);
        const direct = await store.createConversation({ type: 'direct', title: null, members: [{ userId: gone.id, role: 'member' }, { userId: other.id, role: 'member' }], directKey: directKeyFor(gone.id, other.id) });
        const sent = draft(gone.id, { clientMsgId: 'same-id' });
        const [stored] = await store.appendMessages(group.id, [sent]);

        expect(await store.removeUserFromAllConversations(gone.id)).to.have.members([group.id, direct.id]);
        await store.anonymiseMessagesOf(gone.id);
        expect((await store.getConversation(group.id))?.members.map((m) => m.userId)).to.deep.equal([other.id]);
        expect((await store.getMessage(stored!.message.id))?.senderId).to.equal(null);
        expect(await store.listConversations(gone.id, 10)).to.deep.equal([]);

        // Another deleted user's message with the same clientMsgId does not collide.
        const gone2 = await newUser();
        await store.addMembers(group.id, [{ userId: gone2.id, role: 'member' }]);
        const [second] = await store.appendMessages(group.id, [draft(gone2.id, { clientMsgId: 'same-id' })]);
        expect(second!.duplicate).to.equal(false);
        await store.anonymiseMessagesOf(gone2.id);
        expect((await store.getMessage(second!.message.id))?.senderId).to.equal(null);
      });
    });

    describe('scheduled messages', () => {
      it('lists due scheduled messages until they are finished, once', async () => {
        const { users, conversation } = await newGroupOf(1);
        const input = { conversationId: conversation.id, senderId: users[0]!.id, clientMsgId: randomUUID(), text: 'later', meta: null };
        const due = await store.createScheduledMessage({ ...input, deliverAt: new Date(Date.now() - 1000) });
        const future = await store.createScheduledMessage({ ...input, clientMsgId: randomUUID(), deliverAt: new Date(Date.now() + 60_000) });
        expect(due).to.include({ status: 'scheduled', messageId: null, text: 'later' });
        const listed = (await store.listDueScheduledMessages(new Date(), 1000)).map((s) => s.id);
        expect(listed).to.include(due.id);
        expect(listed).to.not.include(future.id);

        await store.finishScheduledMessage(due.id, 'delivered', 'm1');
        await store.finishScheduledMessage(due.id, 'withdrawn', null);
        expect(await store.getScheduledMessage(due.id)).to.include({ status: 'delivered', messageId: 'm1' });
        expect((await store.listDueScheduledMessages(new Date(), 1000)).map((s) => s.id)).to.not.include(due.id);
      });
    });

    describe('notifications', () => {
      it('stores a notification once per dedupe key and pages newest first', async () => {
        const user = await newUser();
        const base = { userId: user.id, type: 'test', title: 't', body: 'b', data: { n: 1 } };
        const first = await store.createNotification({ ...base, dedupeKey: 'k1' });
        const again = await store.createNotification({ ...base, dedupeKey: 'k1' });
        expect(again.id).to.equal(first.id);
        const second = await store.createNotification({ ...base, dedupeKey: 'k2' });
        const third = await store.createNotification({ ...base, dedupeKey: 'k3' });
        expect(first).to.include({ read: false, type: 'test', title: 't', body: 'b' });
        expect(first.data).to.deep.equal({ n: 1 });

        const page = await store.listNotifications(user.id, { unreadOnly: false, limit: 2 });
        expect(page.map((n) => n.id)).to.deep.equal([third.id, second.id]);
        const next = await store.listNotifications(user.id, { unreadOnly: false, limit: 2, beforeId: second.id });
        expect(next.map((n) => n.id)).to.deep.equal([first.id]);
      });

      it('marks some or all read, counts unread, and deletes a user\'s notifications', async () => {
        const user = await newUser();
        const make = (k: string) => store.createNotification({ userId: user.id, type: 't', title: null, body: null, data: {}, dedupeKey: k });
        const [a, , c] = [await make('a'), await make('b'), await make('c')];
        expect(await store.countUnreadNotifications(user.id)).to.equal(3);
        await store.markNotificationsRead(user.id, [a.id]);
        expect(await store.countUnreadNotifications(user.id)).to.equal(2);
        expect((await store.listNotifications(user.id, { unreadOnly: true, limit: 10 })).map((n) => n.id)).to.not.include(a.id);
        await store.markNotificationsRead(user.id, undefined);
        expect(await store.countUnreadNotifications(user.id)).to.equal(0);
        await store.deleteNotificationsOf(user.id);
        expect(await store.listNotifications(user.id, { unreadOnly: false, limit: 10 })).to.deep.equal([]);
        expect(c.read).to.equal(false);
      });
    });

    async function listAll(conversationId: string, viewerId: string) {
      return store.listMessages(conversationId, { viewerId, limit: 10_000 });
    }

    /** The seqs handed out are exactly 1..count, and the stored timeline matches them. */
    async function expectGapless(conversationId: string, viewerId: string, seqs: readonly number[], count: number): Promise<void> {
      const expected = Array.from({ length: count }, (_, i) => i + 1);
      expect([...seqs].sort((a, b) => a - b)).to.deep.equal(expected);
      expect((await listAll(conversationId, viewerId)).map((m) => m.seq)).to.deep.equal(expected);
    }
  });
}

function draft(senderId: string, overrides: Partial<MessageDraft> = {}): MessageDraft {
  return { senderId, clientMsgId: randomUUID(), text: 'hello', meta: null, createdAt: new Date(), ...overrides };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

function expectCode(err: unknown, code: ErrorCode): void {
  expect(err).to.be.instanceOf(ParleyError);
  expect((err as ParleyError).code).to.equal(code);
}

function expectIncreasing(seqs: readonly number[]): void {
  expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
}

function sortByUser<T extends { userId: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.userId.localeCompare(b.userId));
}

function attempt(mutate: () => void): void {
  try {
    mutate();
  } catch {
    // A frozen record refuses the change, which is as good as ignoring it.
  }
}

async function servesFerretDb(uri: string): Promise<boolean> {
  const conn = await mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000 }).asPromise();
  try {
    const info = await conn.db!.admin().command({ buildInfo: 1 });
    return 'ferretdbVersion' in info;
  } finally {
    await conn.close();
  }
}
