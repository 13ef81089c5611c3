import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { api, eventually, openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

const DAY_MS = 86_400_000;

/**
 * The `retention` worker in a running server (MongoDB store): group messages older than
 * RETENTION_GROUP_DAYS disappear from history, each conversation keeps its newest, direct ones are kept
 * (RETENTION_DIRECT_DAYS=0), new messages take the next seq, and revoked sessions are deleted.
 */
describe('retention worker (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startServer({ env: { RETENTION_GROUP_DAYS: '30', RETENTION_INTERVAL_MS: '1000' } });
  });
  after(async () => {
    await server?.stop();
  });

  it('deletes old group messages but each group’s newest, keeps direct ones, and seqs go on', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'keep'), registerUser(server, 'keeppeer')]);
    const group = (await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'group', title: 'old', memberIds: [bob.user.id] } })).body.conversation.id;
    const direct = await openDirect(server, ann, bob);
    // Old messages cannot be sent through the API: they go straight into the store, as years of use would.
    const old = (days: number) => ({ senderId: ann.user.id, clientMsgId: randomUUID(), text: `${days} days old`, meta: null, createdAt: new Date(Date.now() - days * DAY_MS) });
    for (const id of [group, direct]) await server.parley.store.appendMessages(id, [old(90), old(60), old(31)]);
    await api(server, 'POST', `/v1/conversations/${group}/messages`, { token: ann.accessToken, body: { clientMsgId: 'recent', text: 'today' } });

    const history = async (id: string) => (await api(server, 'GET', `/v1/conversations/${id}/messages`, { token: bob.accessToken })).body.messages.map((m: { seq: number }) => m.seq);
    await eventually(async () => expect(await history(group)).to.deep.equal([4]), 15_000, 250);
    expect(await history(direct), 'RETENTION_DIRECT_DAYS=0 keeps direct messages').to.deep.equal([1, 2, 3]);
    const next = await api(server, 'POST', `/v1/conversations/${group}/messages`, { token: ann.accessToken, body: { clientMsgId: 'after', text: 'next' } });
    expect(next.body.message.seq).to.equal(5);
  });

  it('deletes the sessions of logged-out devices', async () => {
    const user = await registerUser(server, 'gone');
    const { sid } = JSON.parse(Buffer.from(user.accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string };
    await api(server, 'POST', '/v1/auth/logout', { token: user.accessToken });
    await eventually(async () => expect(await server.parley.store.getSession(sid)).to.equal(null), 15_000, 250);
  });
});
