import { expect } from 'chai';
import {
  type KeyValueStorage,
  LocalStorageOutboxStorage,
  type Message,
  type OutboxEvent,
  type ParleyClient,
  ParleyClientError,
} from '../../client-sdk/src/index.js';
import { range, TestClients, waitFor } from '../support/sdk.js';
import { api, openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

/** Web Storage semantics (strings in, strings out) over a Map: the seam LocalStorageOutboxStorage owns. */
class MapStorage implements KeyValueStorage {
  readonly values = new Map<string, string>();
  getItem(key: string): string | null {
    return this.values.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.values.set(key, String(value));
  }
}

async function rejection(promise: Promise<unknown>): Promise<ParleyClientError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(ParleyClientError);
    return err as ParleyClientError;
  }
  throw new Error('expected a rejection');
}

describe('SDK outbox', function () {
  this.timeout(30_000);
  const clients = new TestClients();
  afterEach(async () => {
    await clients.closeAll();
  });

  describe('against a server with default limits', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ store: 'memory', env: { MAX_TEXT_LENGTH: '20' } });
    });
    after(async () => {
      await server.stop();
    });

    it('stores concurrent sends to one conversation in call order', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const client = await clients.online(server, ann);
      const stored = await Promise.all(range(1, 25).map((i) => client.send(conversationId, `#${i}`)));
      expect(stored.map((m) => m.seq)).to.deep.equal(range(1, 25));
      expect(stored.map((m) => m.text)).to.deep.equal(range(1, 25).map((i) => `#${i}`));
    });

    it('rejects permanent errors with their code, drops the entry and goes on with the next', async () => {
      const [ann, bob, carol] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'carol')]);
      const conversationId = await openDirect(server, ann, bob);
      const foreign = await openDirect(server, bob, carol);
      const client = await clients.online(server, ann);
      const failed: OutboxEvent[] = [];
      client.on('outbox', (e) => {
        if (e.type === 'failed') failed.push(e);
      });

      const tooLong = client.send(conversationId, 'x'.repeat(21));
      const notMine = client.send(foreign, 'hi');
      const next = client.send(conversationId, 'fits');
      expect((await rejection(tooLong)).code).to.equal('payload_too_large');
      expect((await rejection(notMine)).code).to.equal('forbidden');
      expect((await next).seq).to.equal(1);
      expect(failed).to.have.length(2);
      expect(client.pending()).to.deep.equal([]);

      await api(server, 'POST', `/v1/users/${ann.user.id}/block`, { token: bob.accessToken });
      expect((await rejection(client.send(conversationId, 'blocked?'))).code).to.equal('blocked');
    });

    it('keeps entries in LocalStorageOutboxStorage until the server stored them', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const backing = new MapStorage();
      const storage = new LocalStorageOutboxStorage({ key: `outbox.${ann.user.id}`, storage: backing });
      // A client that cannot reach anything: its sends stay queued.
      const unreachable = clients.create(server, ann, { url: 'http://127.0.0.1:9', storage, fallback: { afterFailures: 1, pollIntervalMs: 100 } });
      void unreachable.send(conversationId, 'one').catch(() => undefined);
      void unreachable.send(conversationId, 'two').catch(() => undefined);
      await waitFor(() => unreachable.pending().length === 2, 'two entries queued');
      await unreachable.close();
      const persisted = JSON.parse(backing.values.get(`outbox.${ann.user.id}`) ?? '[]') as { text: string }[];
      expect(persisted.map((e) => e.text)).to.deep.equal(['one', 'two']);

      const reloaded = clients.create(server, ann, { storage: new LocalStorageOutboxStorage({ key: `outbox.${ann.user.id}`, storage: backing }) });
      await waitFor(() => reloaded.state === 'online' && reloaded.pending().length === 0, 'the reloaded client sends both');
      const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
      expect(history.body.messages.map((m: Message) => m.text)).to.deep.equal(['one', 'two']);
      expect(JSON.parse(backing.values.get(`outbox.${ann.user.id}`) ?? 'null')).to.deep.equal([]);
    });
  });

  describe('when the server rate-limits the sender', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ store: 'memory', env: { MESSAGES_PER_SECOND: '3' } });
    });
    after(async () => {
      await server.stop();
    });

    it('waits retryAfterMs and stores every message once, in order', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const client: ParleyClient = await clients.online(server, ann);
      const stored = await Promise.all(range(1, 8).map((i) => client.send(conversationId, `r${i}`)));
      expect(stored.map((m) => m.seq)).to.deep.equal(range(1, 8));
      const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
      expect(history.body.messages.map((m: Message) => m.text)).to.deep.equal(range(1, 8).map((i) => `r${i}`));
    });
  });
});
