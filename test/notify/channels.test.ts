import { expect } from 'chai';
import type { AuthResult } from '../../client-sdk/src/index.js';
import { generateVapidKeys, type AttemptRecord } from '../../server/notify/index.js';
import { api } from '../support/server.js';
import { HttpSink } from './support/http-sink.js';
import { eventually, sleep, startNotifyHarness, type NotifyHarness } from './support/notify-harness.js';
import { PushEndpoint, pushAgent, type TestDevice } from './support/push-endpoint.js';
import { SmtpSink } from './support/smtp-sink.js';

const FINAL = ['sent', 'dead', 'failed', 'skipped'];

describe('notification channels (real SMTP server, SMS provider, push service and content resolver)', function () {
  this.timeout(60_000);
  const smtp = new SmtpSink();
  const sms = new HttpSink();
  const content = new HttpSink();
  const push = new PushEndpoint();
  const vapid = generateVapidKeys();
  let h: NotifyHarness;
  let key: string;

  before(async () => {
    await Promise.all([smtp.start(), sms.start(), content.start(), push.start()]);
    content.respond = (req) => {
      if (req.path === '/content/ep-7') return { status: 200, body: { title: 'The Pilot', url: 'https://tv.example/ep-7' } };
      if (req.path === '/content/slow') return { status: 200, body: { title: 'Too late' }, delayMs: 1500 };
      return { status: 404, body: { error: 'no such content' } };
    };
    h = await startNotifyHarness({
      pushAgent: pushAgent(),
      env: {
        SMTP_URL: smtp.url,
        SMTP_FROM: 'Parley <no-reply@parley.test>',
        SMS_URL: `${sms.url}/messages`,
        SMS_AUTH_HEADER: 'Authorization: Bearer sms-secret',
        VAPID_PUBLIC_KEY: vapid.publicKey,
        VAPID_PRIVATE_KEY: vapid.privateKey,
        VAPID_SUBJECT: 'mailto:ops@parley.test',
        CONTENT_RESOLVER_URL: `${content.url}/content`,
        CONTENT_RESOLVER_TIMEOUT_MS: '300',
        NOTIFY_MAX_ATTEMPTS: '3',
      },
    });
    key = await h.serviceKey();
  });
  after(async () => {
    await h?.stop();
    await Promise.all([smtp.stop(), sms.stop(), content.stop(), push.stop()]);
  });

  const as = (user: AuthResult, method: string, path: string, body?: unknown) => api(h, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });

  async function register(user: AuthResult, device: TestDevice): Promise<string> {
    const res = await as(user, 'POST', '/v1/notify/push/subscriptions', { endpoint: device.endpoint, keys: device.keys, expirationTime: null });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body.subscription.id;
  }

  async function post(body: Record<string, unknown>): Promise<string> {
    const res = await h.postEvent(key, body);
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.eventId;
  }

  /** The event's attempts once every one has ended. */
  async function settled(eventId: string, count: number, ms = 15_000): Promise<AttemptRecord[]> {
    return eventually(async () => {
      const res = await api(h, 'GET', `/v1/events/${eventId}/attempts`, { headers: { 'x-service-key': key } });
      const attempts: AttemptRecord[] = res.body.attempts;
      expect(attempts).to.have.length(count);
      for (const a of attempts) expect(FINAL, `${a.channel} ${a.status}`).to.include(a.status);
      return attempts;
    }, ms);
  }

  async function inbox(user: AuthResult): Promise<any[]> {
    const res = await api({ url: h.parleyUrl }, 'GET', '/v1/notifications', { token: user.accessToken });
    return res.body.notifications;
  }

  describe('when an event reaches three users with different preferences', () => {
    it('delivers exactly the channels each wants, rendered in their locale with resolved content', async () => {
      const [ann, bob, cara] = await Promise.all([h.user('ann'), h.user('bob'), h.user('cara')]);
      const annPhone = push.device('ann-phone');
      // Ann: French, the defaults for new_episode (in-app, email, push).
      expect((await as(ann, 'PATCH', '/v1/notify/profile', { locale: 'fr' })).status).to.equal(200);
      await register(ann, annPhone);
      // Bob: SMS instead of email and push.
      expect((await as(bob, 'PATCH', '/v1/notify/profile', { phone: '+15551230001' })).status).to.equal(200);
      const bobPrefs = await as(bob, 'PATCH', '/v1/notify/preferences', { new_episode: { email: false, sms: true, push: false } });
      expect(bobPrefs.body.preferences.new_episode).to.deep.equal({ inapp: true, email: false, sms: true, push: false });
      await register(bob, push.device('bob-phone'));
      // Cara: email only.
      expect((await as(cara, 'PATCH', '/v1/notify/preferences', { new_episode: { inapp: false, push: false } })).status).to.equal(200);
      await register(cara, push.device('cara-tablet'));

      const eventId = await post({
        event_type: 'new_episode',
        created_dt: '2026-11-21T10:00:00Z',
        priority: 5,
        payload: { user: [ann.user.id, bob.user.id, cara.user.id], content: ['ep-7'] },
      });
      const attempts = await settled(eventId, 6);
      const byUser = (user: AuthResult) => attempts.filter((a) => a.userId === user.user.id).map((a) => `${a.channel}:${a.status}`).sort();
      expect(byUser(ann)).to.deep.equal(['email:sent', 'inapp:sent', 'push:sent']);
      expect(byUser(bob)).to.deep.equal(['inapp:sent', 'sms:sent']);
      expect(byUser(cara)).to.deep.equal(['email:sent']);
      for (const attempt of attempts) expect(attempt).to.include({ attempts: 1, priorityClass: 'normal' });

      // In-app: Ann in French, Bob in English, Cara nothing.
      const [annInbox, bobInbox, caraInbox] = await Promise.all([inbox(ann), inbox(bob), inbox(cara)]);
      expect(annInbox.map((n) => [n.type, n.title, n.body])).to.deep.equal([['new_episode', 'Nouvel épisode : The Pilot', 'The Pilot est disponible.']]);
      expect(bobInbox.map((n) => [n.type, n.title, n.body])).to.deep.equal([['new_episode', 'New episode: The Pilot', 'The Pilot is out now.']]);
      expect(annInbox[0].data).to.include({ eventId });
      expect(caraInbox).to.deep.equal([]);

      // Email: Ann and Cara, parsed back from what the SMTP server received.
      const mailTo = (user: AuthResult) => smtp.received.filter((m) => m.rcptTo.includes(user.user.email!));
      expect(mailTo(bob)).to.deep.equal([]);
      const [annMail] = mailTo(ann);
      const [caraMail] = mailTo(cara);
      expect(mailTo(ann)).to.have.length(1);
      expect(mailTo(cara)).to.have.length(1);
      expect(annMail!.subject).to.equal('Nouvel épisode : The Pilot');
      expect(annMail!.text).to.equal('Bonjour ann,\n\nThe Pilot est disponible.\n\n— Parley');
      expect(annMail!.html).to.contain('<strong>The Pilot</strong>');
      expect(annMail!.to).to.contain(ann.user.email!);
      expect(caraMail!.subject).to.equal('New episode: The Pilot');
      expect(caraMail!.text).to.equal('Hi cara,\n\nThe Pilot is out now. Watch it at https://tv.example/ep-7.\n\n— Parley');
      expect(caraMail!.headers.get('x-parley-event')).to.equal(eventId);

      // SMS: Bob only, through the configured template and auth header.
      expect(sms.received).to.have.length(1);
      expect(sms.received[0]!.headers.authorization).to.equal('Bearer sms-secret');
      expect(JSON.parse(sms.received[0]!.body)).to.deep.equal({ to: '+15551230001', text: 'New episode: The Pilot' });

      // Push: Ann's phone only, decrypted with its keys; Bob and Cara turned push off.
      expect(push.failures).to.deep.equal([]);
      expect(push.received.map((p) => p.device)).to.deep.equal(['ann-phone']);
      const received = push.received[0]!;
      expect(JSON.parse(received.payload)).to.deep.include({ title: 'Nouvel épisode', body: 'The Pilot est disponible.' });
      expect(JSON.parse(received.payload).data).to.include({ eventId, eventType: 'new_episode' });
      expect(received.vapid).to.include({ publicKey: vapid.publicKey, sub: 'mailto:ops@parley.test' });
      expect(received.headers.urgency).to.equal('normal');

      // Nothing more arrives later.
      await sleep(300);
      expect(smtp.received.filter((m) => [ann, bob, cara].some((u) => m.rcptTo.includes(u.user.email!)))).to.have.length(2);
      expect(sms.received).to.have.length(1);
      expect(push.received).to.have.length(1);
    });
  });

  describe('push subscriptions', () => {
    it('registers and unregisters devices, and hands out the VAPID public key', async () => {
      const dan = await h.user('dan');
      const keyRes = await api(h, 'GET', '/v1/notify/push/vapid-public-key');
      expect(keyRes.body).to.deep.equal({ publicKey: vapid.publicKey });
      const id = await register(dan, push.device('dan-laptop'));
      expect(await register(dan, push.device('dan-laptop'))).to.equal(id);
      expect((await as(dan, 'GET', '/v1/notify/push/subscriptions')).body.subscriptions.map((s: any) => s.id)).to.deep.equal([id]);
      const insecure = await as(dan, 'POST', '/v1/notify/push/subscriptions', { endpoint: 'http://push.example/x', keys: push.device('x').keys });
      expect(insecure.body.error).to.include({ code: 'invalid_payload' });
      expect(insecure.body.error.details.fields).to.deep.equal(['endpoint']);
      const eve = await h.user('eve');
      expect((await as(eve, 'DELETE', `/v1/notify/push/subscriptions/${id}`)).body.error.code).to.equal('not_found');
      expect((await as(dan, 'DELETE', `/v1/notify/push/subscriptions/${id}`)).status).to.equal(200);
      expect((await as(dan, 'GET', '/v1/notify/push/subscriptions')).body.subscriptions).to.deep.equal([]);
      expect((await api(h, 'GET', '/v1/notify/push/subscriptions')).body.error.code).to.equal('unauthorized');
    });

    it('removes a subscription the push service answers 410 for, and records the attempt as failed', async () => {
      const finn = await h.user('finn');
      const device = push.device('finn-old-phone');
      await register(finn, device);
      push.answer(device.name, 410);
      const eventId = await post({ event_type: 'comment_like', priority: 'high', payload: { user: [finn.user.id], content: ['unknown-thing'], data: { actor: 'Zoé' } } });
      const attempts = await settled(eventId, 2);
      const pushAttempt = attempts.find((a) => a.channel === 'push')!;
      expect(pushAttempt).to.include({ status: 'failed', attempts: 1 });
      expect(pushAttempt.lastError).to.contain('410');
      expect((await as(finn, 'GET', '/v1/notify/push/subscriptions')).body.subscriptions).to.deep.equal([]);
      // The content resolver did not know the id: the template shows it as it was sent.
      const [note] = await inbox(finn);
      expect(note).to.include({ title: 'Zoé liked your comment', body: 'On unknown-thing' });
      expect(await h.parley.queue.drainDeadLetters('notify.high')).to.deep.equal([]);
    });

    it('falls back to the raw content id when the resolver is too slow', async () => {
      const gus = await h.user('gus');
      const eventId = await post({ event_type: 'comment_like', priority: 2, payload: { user: [gus.user.id], content: ['slow'] } });
      await settled(eventId, 2);
      const [note] = await inbox(gus);
      expect(note).to.include({ title: 'Someone liked your comment', body: 'On slow' });
    });
  });

  describe('when the SMTP server refuses', () => {
    it('retries with backoff and delivers on the third try after two temporary refusals', async () => {
      const hana = await h.user('hana');
      const tries: number[] = [];
      smtp.refuse = (_n, rcptTo) => {
        if (!rcptTo.includes(hana.user.email!)) return null;
        tries.push(Date.now());
        return tries.length <= 2 ? 451 : null;
      };
      const eventId = await post({ event_type: 'promo', priority: 9, payload: { user: [hana.user.id], content: ['ep-7'], data: { headline: 'Half price' } } });
      const [attempt] = await settled(eventId, 1);
      expect(attempt).to.include({ channel: 'email', status: 'sent', attempts: 3, priorityClass: 'low' });
      expect(attempt!.history.map((e) => [e.status, e.attempt])).to.deep.equal([
        ['queued', 0],
        ['retrying', 1],
        ['retrying', 2],
        ['sent', 3],
      ]);
      expect(attempt!.history[1]!.error).to.contain('451');
      // Exponential backoff: QUEUE_RETRY_BASE_MS (50) then twice that.
      expect(tries[1]! - tries[0]!).to.be.at.least(45);
      expect(tries[2]! - tries[1]!).to.be.at.least(95);
      const mails = smtp.received.filter((m) => m.rcptTo.includes(hana.user.email!));
      expect(mails.map((m) => m.subject)).to.deep.equal(['Half price']);
    });

    it('dead-letters the job after the last try and records it as dead', async () => {
      const ivan = await h.user('ivan');
      smtp.refuse = (_n, rcptTo) => (rcptTo.includes(ivan.user.email!) ? 451 : null);
      const eventId = await post({ event_type: 'promo', priority: 'low', payload: { user: [ivan.user.id], content: ['ep-7'] } });
      const [attempt] = await settled(eventId, 1);
      expect(attempt).to.include({ status: 'dead', attempts: 3 });
      expect(attempt!.lastError).to.contain('451');
      expect(attempt!.history.map((e) => e.status)).to.deep.equal(['queued', 'retrying', 'retrying', 'dead']);
      const letters = await eventually(async () => {
        const drained = await h.parley.queue.drainDeadLetters('notify.low');
        expect(drained).to.have.length(1);
        return drained;
      });
      expect(letters[0]!.job.payload).to.deep.equal({ attemptId: attempt!.id });
      expect(letters[0]!.reason).to.contain('451');
      expect(smtp.received.filter((m) => m.rcptTo.includes(ivan.user.email!))).to.deep.equal([]);
    });

    it('dead-letters at once on a permanent refusal (5xx)', async () => {
      const jo = await h.user('jo');
      smtp.refuse = (_n, rcptTo) => (rcptTo.includes(jo.user.email!) ? 550 : null);
      const eventId = await post({ event_type: 'promo', priority: 8, payload: { user: [jo.user.id] } });
      const [attempt] = await settled(eventId, 1);
      expect(attempt).to.include({ status: 'dead', attempts: 1 });
      expect(await h.parley.queue.drainDeadLetters('notify.low')).to.have.length(1);
    });
  });

  describe('the SMS provider', () => {
    it('is retried after a 503 and not after a 400', async () => {
      const [kim, lou] = await Promise.all([h.user('kim'), h.user('lou')]);
      await as(kim, 'PATCH', '/v1/notify/profile', { phone: '+15551230002' });
      await as(lou, 'PATCH', '/v1/notify/profile', { phone: '+15551230003' });
      let kimCalls = 0;
      sms.respond = (req) => {
        const to = JSON.parse(req.body).to;
        if (to === '+15551230002') return { status: ++kimCalls === 1 ? 503 : 200 };
        if (to === '+15551230003') return { status: 400, body: { error: 'bad number' } };
        return { status: 200 };
      };
      const eventId = await post({ event_type: 'reminder', priority: 1, payload: { user: [kim.user.id, lou.user.id], data: { text: 'Dentist at 3' } } });
      // In-app, SMS, and push wanted but skipped: neither has a device.
      const attempts = await settled(eventId, 6);
      expect(attempts.filter((a) => a.channel === 'push').map((a) => [a.status, a.lastError])).to.deep.equal([
        ['skipped', 'no push subscription'],
        ['skipped', 'no push subscription'],
      ]);
      const smsOf = (u: AuthResult) => attempts.find((a) => a.userId === u.user.id && a.channel === 'sms')!;
      expect(smsOf(kim)).to.include({ status: 'sent', attempts: 2 });
      expect(smsOf(lou)).to.include({ status: 'dead', attempts: 1 });
      expect(smsOf(lou).lastError).to.contain('400');
      const kimBodies = sms.received.filter((r) => JSON.parse(r.body).to === '+15551230002').map((r) => JSON.parse(r.body).text);
      expect(kimBodies).to.deep.equal(['Reminder: Dentist at 3', 'Reminder: Dentist at 3']);
      expect(await h.parley.queue.drainDeadLetters('notify.high')).to.have.length(1);
    });
  });
});
