import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { TEST_AMQP_URL } from '../support/cluster.js';
import { api, connectClient, eventually, openDirect, registerUser, startServer, type TestServer } from '../support/server.js';
import { SmtpSink } from '../notify/support/smtp-sink.js';
import type { AuthResult } from '../../client-sdk/src/index.js';

const COALESCE_MS = 3_000;

/**
 * Offline delivery end to end: messages to a recipient with no socket become `message.offline` events in
 * the notification pipeline (real RabbitMQ, MongoDB store, a real SMTP server), coalesced per
 * conversation in PUSH_COALESCE_MS windows: the first at once, the rest summarised when the window ends.
 */
describe('offline delivery through the notification pipeline (RabbitMQ, MongoDB, SMTP)', function () {
  this.timeout(60_000);
  const smtp = new SmtpSink();
  let server: TestServer;

  before(async () => {
    await smtp.start();
    server = await startServer({
      env: { AMQP_URL: TEST_AMQP_URL, KEY_PREFIX: `t${randomUUID().slice(0, 8)}`, PUSH_COALESCE_MS: String(COALESCE_MS), SMTP_URL: smtp.url },
    });
  });
  after(async () => {
    await server?.stop();
    await smtp.stop();
  });

  async function user(name: string, email?: string): Promise<AuthResult> {
    const registered = await registerUser(server, name);
    await api(server, 'PATCH', '/v1/me', { token: registered.accessToken, body: { displayName: name, ...(email ? { email } : {}) } });
    return registered;
  }
  const send = (from: AuthResult, conversationId: string, text: string) =>
    api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: from.accessToken, body: { clientMsgId: randomUUID(), text } });
  const offlineInbox = async (who: AuthResult) =>
    (await api(server, 'GET', '/v1/notifications', { token: who.accessToken })).body.notifications.filter((n: any) => n.type === 'message.offline').reverse();

  /** Waits until the start of a coalescing window, so a burst of sends falls in one. */
  async function startOfWindow(): Promise<void> {
    await new Promise((r) => setTimeout(r, COALESCE_MS - (Date.now() % COALESCE_MS) + 50));
  }

  it('notifies the first message at once and summarises the rest of the window as "3 new messages from Ann", in the app and by email', async () => {
    const ann = await user('Ann');
    const bob = await user('Bob', `bob-${randomUUID().slice(0, 8)}@example.test`);
    const prefs = await api(server, 'PATCH', '/v1/notify/preferences', { token: bob.accessToken, body: { 'message.offline': { email: true } } });
    expect(prefs.status, JSON.stringify(prefs.body)).to.equal(200);
    const conversationId = await openDirect(server, ann, bob);

    await startOfWindow();
    for (const text of ['are you there?', 'second', 'third', 'the last one']) expect((await send(ann, conversationId, text)).status).to.equal(201);

    const first = await eventually(async () => {
      const inbox = await offlineInbox(bob);
      expect(inbox).to.have.length.at.least(1);
      return inbox[0];
    });
    expect(first).to.include({ title: 'New message from Ann', body: 'are you there?' });
    expect(first.data).to.include({ conversationId, seq: 1, kind: 'message' });

    const summary = await eventually(async () => {
      const inbox = await offlineInbox(bob);
      expect(inbox).to.have.length(2);
      return inbox[1];
    }, 3 * COALESCE_MS + 5_000);
    expect(summary).to.include({ title: '3 new messages from Ann', body: 'the last one' });
    expect(summary.data).to.include({ conversationId, seq: 4, count: 3, kind: 'summary' });

    const mails = await eventually(() => {
      const to = smtp.received.filter((m) => m.rcptTo.some((r) => r.startsWith('bob-')));
      expect(to).to.have.length(2);
      return to;
    });
    expect(mails.map((m) => m.subject).sort()).to.deep.equal(['3 new messages from Ann', 'New message from Ann']);
    // Nothing more once the window is over and its summary sent.
    await new Promise((r) => setTimeout(r, COALESCE_MS));
    expect(await offlineInbox(bob)).to.have.length(2);
  });

  it('sends one notification for a single message, no summary, and none by email unless asked', async () => {
    const [ann, cara] = await Promise.all([user('Ann'), user('Cara', `cara-${randomUUID().slice(0, 8)}@example.test`)]);
    const conversationId = await openDirect(server, ann, cara);
    await startOfWindow();
    await send(ann, conversationId, 'just one');
    await eventually(async () => expect(await offlineInbox(cara)).to.have.length(1));
    await new Promise((r) => setTimeout(r, 2 * COALESCE_MS));
    expect(await offlineInbox(cara)).to.have.length(1);
    expect(smtp.received.filter((m) => m.rcptTo.some((r) => r.startsWith('cara-')))).to.deep.equal([]);
  });

  it('skips the summary when the recipient comes online before the window ends', async () => {
    const [ann, dan] = await Promise.all([user('Ann'), user('Dan')]);
    const conversationId = await openDirect(server, ann, dan);
    await startOfWindow();
    for (const text of ['one', 'two', 'three']) await send(ann, conversationId, text);
    await eventually(async () => expect(await offlineInbox(dan)).to.have.length(1));
    const socket = await connectClient(server, dan.accessToken);
    try {
      await new Promise((r) => setTimeout(r, 2 * COALESCE_MS));
      expect(await offlineInbox(dan), 'no summary for someone already online').to.have.length(1);
    } finally {
      socket.close();
    }
  });

  it('summarises a group window by its title when several members wrote', async () => {
    const [ann, bob, eve] = await Promise.all([user('Ann'), user('Bob'), user('Eve')]);
    const created = await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'group', title: 'Trip', memberIds: [bob.user.id, eve.user.id] } });
    const conversationId = created.body.conversation.id;
    await startOfWindow();
    await send(ann, conversationId, 'plan?');
    await send(bob, conversationId, 'saturday');
    await send(ann, conversationId, 'ok');
    const inbox = await eventually(async () => {
      const got = await offlineInbox(eve);
      expect(got).to.have.length(2);
      return got;
    }, 3 * COALESCE_MS + 5_000);
    expect(inbox.map((n: any) => n.title)).to.deep.equal(['New message in Trip', '2 new messages in Trip']);
  });
});
