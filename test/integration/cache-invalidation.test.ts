import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { api, type ApiResponse, openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Sends until the answer's status is `status`, for at most `ms`: the other node hears of a change
 * through Redis within milliseconds. Kept under 2 s, the shortest a cached copy lives, so that expiry
 * cannot pass for invalidation.
 */
async function sendUntil(send: () => Promise<ApiResponse>, status: number, ms: number): Promise<ApiResponse> {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await send();
    if (res.status === status || Date.now() > deadline) return res;
    await sleep(20);
  }
}

describe('membership and block caches on two gateways sharing MongoDB and Redis', function () {
  this.timeout(30_000);
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    const env = { REDIS_URL, KEY_PREFIX: `t${randomUUID().slice(0, 8)}` };
    a = await startServer({ env: { ...env, NODE_ID: 'cache-a' } });
    b = await startServer({ env: { ...env, NODE_ID: 'cache-b', MONGODB_URI: a.mongodbUri! } });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('refuses a member removed on one node on the other at once, though it had the conversation cached', async () => {
    const [owner, ann] = [await registerUser(a, 'owner'), await registerUser(a, 'ann')];
    const group = await api(a, 'POST', '/v1/conversations', { token: owner.accessToken, body: { type: 'group', title: 'g', memberIds: [ann.user.id] } });
    const id = group.body.conversation.id as string;
    let n = 0;
    const annSendsViaB = () => api(b, 'POST', `/v1/conversations/${id}/messages`, { token: ann.accessToken, body: { clientMsgId: `m${++n}`, text: 'hi' } });
    expect((await annSendsViaB()).status, 'a member, now cached on b').to.equal(201);

    expect((await api(a, 'DELETE', `/v1/conversations/${id}/members/${ann.user.id}`, { token: owner.accessToken })).status).to.be.oneOf([200, 204]);

    const refused = await sendUntil(annSendsViaB, 403, 1_000);
    expect(refused.status).to.equal(403);
    expect(refused.body.error.code).to.equal('forbidden');
  });

  it('refuses a direct message from someone just blocked on the other node at once, though it had the block list cached', async () => {
    const [ann, bob] = [await registerUser(a, 'ann'), await registerUser(a, 'bob')];
    const id = await openDirect(a, ann, bob);
    let n = 0;
    const annSendsViaB = () => api(b, 'POST', `/v1/conversations/${id}/messages`, { token: ann.accessToken, body: { clientMsgId: `m${++n}`, text: 'hi' } });
    expect((await annSendsViaB()).status, "allowed, bob's block list now cached on b").to.equal(201);

    expect((await api(a, 'POST', `/v1/users/${ann.user.id}/block`, { token: bob.accessToken })).status).to.be.oneOf([200, 204]);

    const refused = await sendUntil(annSendsViaB, 403, 1_000);
    expect(refused.status).to.equal(403);
    expect(refused.body.error.code).to.equal('blocked');

    expect((await api(a, 'DELETE', `/v1/users/${ann.user.id}/block`, { token: bob.accessToken })).status).to.be.oneOf([200, 204]);
    expect((await sendUntil(annSendsViaB, 201, 1_000)).status, 'allowed again once unblocked').to.equal(201);
  });
});
