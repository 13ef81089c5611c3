import { expect } from 'chai';
import type { AuthResult } from '../../client-sdk/src/index.js';
import type { AttemptRecord, NotifyStore } from '../../server/notify/index.js';
import { api } from '../support/server.js';
import { eventually, sleep, startNotifyHarness, type NotifyHarness, type NotifyProcess } from './support/notify-harness.js';
import { SmtpSink } from './support/smtp-sink.js';

/** Counts the occurrence claims a process's scheduler won and lost. */
function countClaims(store: NotifyStore): { won: number; lost: number } {
  const counts = { won: 0, lost: 0 };
  const claim = store.claimOccurrence.bind(store);
  store.claimOccurrence = async (input) => {
    const won = await claim(input);
    if (won) counts.won++;
    else counts.lost++;
    return won;
  };
  return counts;
}

describe('schedules and quiet hours (two scheduler processes, real RabbitMQ and SMTP)', function () {
  this.timeout(60_000);
  const smtp = new SmtpSink();
  let h: NotifyHarness;
  let schedulers: NotifyProcess[];
  let key: string;

  before(async () => {
    await smtp.start();
    // The main process consumes the class queues; the schedulers run in two other "processes",
    // each with its own notify store connection and broker connection.
    h = await startNotifyHarness({
      workers: ['notify-high', 'notify-normal', 'notify-low'],
      env: { SMTP_URL: smtp.url, NOTIFY_SCHEDULER_INTERVAL_MS: '100' },
    });
    schedulers = [await h.startProcess(['notify-scheduler']), await h.startProcess(['notify-scheduler'])];
    key = await h.serviceKey();
  });
  after(async () => {
    await h?.stop();
    await smtp.stop();
  });

  const as = (user: AuthResult, method: string, path: string, body?: unknown) => api(h, method, path, { token: user.accessToken, ...(body === undefined ? {} : { body }) });
  const service = (method: string, path: string) => api(h, method, path, { headers: { 'x-service-key': key } });

  it('fires an every-second cron schedule once per occurrence with two schedulers running, until cancelled', async () => {
    // Without MongoDB the processes share one memory store; count each store once.
    const stores = [...new Set(schedulers.map((s) => s.notifyStore))];
    const claims = stores.map(countClaims);
    const pat = await h.user('pat');
    await as(pat, 'PATCH', '/v1/notify/preferences', { reminder: { push: false, sms: false } });
    const res = await h.postEvent(key, { event_type: 'reminder', schedule: '* * * * * *', timezone: 'Europe/Paris', priority: 5, payload: { user: [pat.user.id], data: { text: 'stretch' } } });
    expect(res.status).to.equal(202);
    const eventId: string = res.body.eventId;

    await sleep(3300);
    const cancelled = await service('DELETE', `/v1/schedules/${eventId}`);
    expect(cancelled.body.schedule.status).to.equal('cancelled');
    const cancelledAt = Date.now();
    await sleep(1500);

    const { body } = await service('GET', `/v1/events/${eventId}`);
    const occurrences: { id: string; dueAt: string; claimedAt: string }[] = body.occurrences;
    expect(occurrences.length).to.be.within(2, 5);
    const dueTimes = occurrences.map((o) => Date.parse(o.dueAt));
    for (const [i, due] of dueTimes.entries()) {
      expect(due % 1000, 'on whole seconds').to.equal(0);
      if (i > 0) expect(due - dueTimes[i - 1]!, 'consecutive seconds, none skipped, none twice').to.equal(1000);
      expect(due).to.be.below(cancelledAt + 1000);
      expect(Date.parse(occurrences[i]!.claimedAt) - due, 'fired on time').to.be.below(1500);
    }

    // Exactly one in-app notification per occurrence, however many schedulers ran.
    const attempts = await eventually(async () => {
      const list = (await service('GET', `/v1/events/${eventId}/attempts`)).body.attempts as AttemptRecord[];
      expect(list.map((a) => a.status)).to.deep.equal(Array(occurrences.length).fill('sent'));
      return list;
    });
    expect(new Set(attempts.map((a) => a.occurrenceId))).to.deep.equal(new Set(occurrences.map((o) => o.id)));
    const inbox = (await api({ url: h.parleyUrl }, 'GET', '/v1/notifications', { token: pat.accessToken })).body.notifications;
    expect(inbox).to.have.length(occurrences.length);
    expect(new Set(inbox.map((n: any) => n.data.occurrenceId)).size).to.equal(occurrences.length);
    expect(inbox[0]).to.include({ type: 'reminder', title: 'Reminder', body: 'stretch' });

    // Both schedulers competed for the occurrences (the one the API fired itself is not a cron one).
    const won = claims.reduce((sum, c) => sum + c.won, 0);
    expect(won).to.equal(occurrences.length);
    // (Whether both schedulers got to claim within the few seconds depends on load; exactly-once is what
    // the lines above prove.)
  });

  it('sends a start_dt event once, at its time', async () => {
    const sam = await h.user('sam');
    const startAt = new Date(Date.now() + 1200);
    const res = await h.postEvent(key, { event_type: 'comment_like', start_dt: startAt.toISOString(), priority: 'high', payload: { user: [sam.user.id], data: { actor: 'Ida' } } });
    const eventId = res.body.eventId;
    expect((await service('GET', `/v1/events/${eventId}`)).body.occurrences).to.deep.equal([]);
    const inbox = await eventually(async () => {
      const list = (await api({ url: h.parleyUrl }, 'GET', '/v1/notifications', { token: sam.accessToken })).body.notifications;
      expect(list).to.have.length(1);
      return list;
    });
    expect(Date.parse(inbox[0].createdAt)).to.be.at.least(startAt.getTime());
    await sleep(500);
    expect((await service('GET', `/v1/events/${eventId}`)).body.occurrences).to.have.length(1);
  });

  describe('quiet hours', () => {
    /** A window around the current time in a time zone, as HH:MM strings. */
    function windowAroundNow(timeZone: string): { start: string; end: string } {
      const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date());
      const minutes = Number(parts.find((p) => p.type === 'hour')!.value) * 60 + Number(parts.find((p) => p.type === 'minute')!.value);
      const clock = (m: number) => {
        const wrapped = (m + 1440) % 1440;
        return `${String(Math.floor(wrapped / 60)).padStart(2, '0')}:${String(wrapped % 60).padStart(2, '0')}`;
      };
      return { start: clock(minutes - 60), end: clock(minutes + 60) };
    }

    it('defers a normal notification until they end and lets a high one through', async () => {
      const quinn = await h.user('quinn');
      const quiet = windowAroundNow('Asia/Tokyo');
      expect((await as(quinn, 'PATCH', '/v1/notify/profile', { timeZone: 'Asia/Tokyo', quietHours: quiet })).body.profile.quietHours).to.deep.equal(quiet);
      await as(quinn, 'PATCH', '/v1/notify/preferences', { comment_like: { email: true, push: false } });
      const mailsTo = () => smtp.received.filter((m) => m.rcptTo.includes(quinn.user.email!));

      const normal = await h.postEvent(key, { event_type: 'comment_like', priority: 5, payload: { user: [quinn.user.id], data: { actor: 'Normal Nora' } } });
      const deferred = await eventually(async () => {
        const list = (await service('GET', `/v1/events/${normal.body.eventId}/attempts`)).body.attempts as AttemptRecord[];
        const email = list.find((a) => a.channel === 'email')!;
        expect(email.status).to.equal('deferred');
        // The in-app inbox is silent, so quiet hours do not hold it back.
        expect(list.find((a) => a.channel === 'inapp')!.status).to.equal('sent');
        return email;
      });
      const endsAt = Date.parse(String(deferred.notBefore));
      expect(endsAt - Date.now()).to.be.within(58 * 60_000, 61 * 60_000);
      expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(endsAt)).to.equal(quiet.end);

      const high = await h.postEvent(key, { event_type: 'comment_like', priority: 1, payload: { user: [quinn.user.id], data: { actor: 'Urgent Uma' } } });
      await eventually(() => expect(mailsTo().map((m) => m.subject)).to.deep.equal(['Urgent Uma liked your comment']));
      const highEmail = ((await service('GET', `/v1/events/${high.body.eventId}/attempts`)).body.attempts as AttemptRecord[]).find((a) => a.channel === 'email');
      expect(highEmail).to.include({ status: 'sent', attempts: 1 });
      await sleep(300);
      expect(mailsTo()).to.have.length(1);

      // When the window has passed (the user turned quiet hours off meanwhile), the scheduler releases it.
      await as(quinn, 'PATCH', '/v1/notify/profile', { quietHours: null });
      const report = await h.notify.tick(new Date(endsAt + 1000));
      expect(report.released).to.be.at.least(1);
      await eventually(() => expect(mailsTo().map((m) => m.subject)).to.include('Normal Nora liked your comment'));
      const released = ((await service('GET', `/v1/events/${normal.body.eventId}/attempts`)).body.attempts as AttemptRecord[]).find((a) => a.channel === 'email')!;
      expect(released.history.map((e) => e.status)).to.deep.equal(['queued', 'deferred', 'sent']);
    });
  });
});
