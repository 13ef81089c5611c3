import { expect } from 'chai';
import type { AuthResult } from '../../client-sdk/src/index.js';
import { api, type ApiResponse } from '../support/server.js';
import { startNotifyHarness, type NotifyHarness } from './support/notify-harness.js';

/**
 * The event API at the edge. No notify worker consumes here, so every job the API publishes stays in
 * its class queue: "nothing was queued" is a queue depth that did not move, and "one effect" is one job.
 */
describe('POST /v1/events at the edge (MongoDB store, RabbitMQ, no consumers)', function () {
  this.timeout(60_000);
  let h: NotifyHarness;
  let key: string;
  let ann: AuthResult;
  let bob: AuthResult;

  before(async () => {
    h = await startNotifyHarness({
      workers: [],
      env: { EVENTS_MAX_RECIPIENTS: '5', EVENTS_MAX_DATA_BYTES: '256', EVENTS_BODY_LIMIT_BYTES: '4096' },
    });
    [key, ann, bob] = await Promise.all([h.serviceKey(), h.user('ann'), h.user('bob')]);
  });
  after(async () => {
    await h?.stop();
  });

  const validEvent = () => ({
    event_type: 'new_episode',
    created_dt: '2026-11-21T10:00:00Z',
    priority: 1,
    payload: { user: [ann.user.id, bob.user.id], content: ['ep-1'] },
  });

  /** Queue depth and schedules, before and after: both must be unchanged by a refused request. */
  async function footprint(): Promise<{ jobs: number; schedules: number }> {
    const [jobs, schedules] = await Promise.all([h.queuedJobs(), h.notifyStore.listSchedules({ limit: 500 })]);
    return { jobs, schedules: schedules.length };
  }

  async function expectRefused(send: () => Promise<ApiResponse>, status: number, code: string, fields?: string[]): Promise<any> {
    const before = await footprint();
    const res = await send();
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.error.code).to.equal(code);
    if (fields) expect(res.body.error.details.fields).to.include.members(fields);
    expect(await footprint()).to.deep.equal(before);
    return res.body.error;
  }

  describe('when the body is wrong', () => {
    const cases: Array<[string, (e: any) => unknown, string[]]> = [
      ['a number as event_type', (e) => ({ ...e, event_type: 42 }), ['event_type']],
      ['a word as priority', (e) => ({ ...e, priority: 'urgent' }), ['priority']],
      ['priority 0', (e) => ({ ...e, priority: 0 }), ['priority']],
      ['a string as payload.user', (e) => ({ ...e, payload: { user: 'ann' } }), ['payload.user']],
      ['a malformed user id', (e) => ({ ...e, payload: { user: [ann.user.id, 'not-an-id'] } }), ['payload.user.1']],
      ['an operator object as a user id', (e) => ({ ...e, payload: { user: [{ $gt: '' }] } }), ['payload.user.0']],
      ['no users', (e) => ({ ...e, payload: { user: [] } }), ['payload.user']],
      ['a date that is not ISO 8601', (e) => ({ ...e, created_dt: 'yesterday' }), ['created_dt']],
      ['an unknown field', (e) => ({ ...e, urgent: true }), ['urgent']],
      ['an unknown payload field', (e) => ({ ...e, payload: { ...e.payload, users: [] } }), ['payload.users']],
      ['a $ key in payload.data', (e) => ({ ...e, payload: { ...e.payload, data: { $where: '1' } } }), ['payload.data']],
      ['end_dt without a schedule', (e) => ({ ...e, end_dt: '2030-01-01T00:00:00Z' }), ['end_dt']],
      ['an array body', () => ['new_episode'], ['(root)']],
    ];
    for (const [what, make, fields] of cases) {
      it(`answers ${what} with invalid_payload naming ${fields.join(', ')}, and queues nothing`, async () => {
        await expectRefused(() => h.postEvent(key, make(validEvent())), 400, 'invalid_payload', fields);
      });
    }

    it('answers a body that is not JSON with invalid_payload, and queues nothing', async () => {
      await expectRefused(() => api(h, 'POST', '/v1/events', { rawBody: '{"event_type":', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }), 400, 'invalid_payload');
    });
  });

  describe('when the cron schedule or its time zone is wrong', () => {
    for (const schedule of ['every day at 4', '61 * * * *', '* * *', '']) {
      it(`answers schedule ${JSON.stringify(schedule)} with invalid_payload naming schedule`, async () => {
        await expectRefused(() => h.postEvent(key, { ...validEvent(), schedule }), 400, 'invalid_payload', ['schedule']);
      });
    }
    it('answers an unknown time zone with invalid_payload naming timezone', async () => {
      await expectRefused(() => h.postEvent(key, { ...validEvent(), schedule: '5 4 * * *', timezone: 'Mars/Olympus_Mons' }), 400, 'invalid_payload', ['timezone']);
    });
  });

  it('answers an unknown event type with not_found, and queues nothing', async () => {
    const error = await expectRefused(() => h.postEvent(key, { ...validEvent(), event_type: 'season_finale' }), 404, 'not_found');
    expect(error.details.known).to.include('new_episode');
  });

  it('refuses the whole event when a recipient is unknown, naming the field, and queues nothing', async () => {
    const ghost = '0123456789abcdef01234567';
    const error = await expectRefused(() => h.postEvent(key, { ...validEvent(), payload: { user: [ann.user.id, ghost] } }), 400, 'invalid_payload', ['payload.user.1']);
    expect(error.details.unknownUsers).to.deep.equal([ghost]);
  });

  describe('when the event is too large', () => {
    it('answers more recipients than EVENTS_MAX_RECIPIENTS with payload_too_large', async () => {
      const users = Array.from({ length: 6 }, () => ann.user.id);
      await expectRefused(() => h.postEvent(key, { ...validEvent(), payload: { user: users } }), 413, 'payload_too_large', ['payload.user']);
    });
    it('answers payload.data over EVENTS_MAX_DATA_BYTES with payload_too_large', async () => {
      await expectRefused(() => h.postEvent(key, { ...validEvent(), payload: { user: [ann.user.id], data: { blob: 'x'.repeat(300) } } }), 413, 'payload_too_large', ['payload.data']);
    });
    it('answers a body over EVENTS_BODY_LIMIT_BYTES with payload_too_large', async () => {
      await expectRefused(() => h.postEvent(key, { ...validEvent(), padding: 'x'.repeat(5000) }), 413, 'payload_too_large');
    });
  });

  describe('when the service key is missing, wrong or revoked', () => {
    it('answers no key with unauthorized', async () => {
      await expectRefused(() => h.postEvent(undefined, validEvent()), 401, 'unauthorized');
    });
    it('answers a malformed key and an unknown key with unauthorized', async () => {
      await expectRefused(() => h.postEvent('psk_not-a-key', validEvent()), 401, 'unauthorized');
      const forged = `${key.slice(0, -4)}${key.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
      await expectRefused(() => h.postEvent(forged, validEvent()), 401, 'unauthorized');
    });
    it('answers a revoked key with unauthorized', async () => {
      const created = await h.notify.cli.createServiceKey('soon-revoked', ['events:write']);
      expect((await h.postEvent(created.key, validEvent())).status).to.equal(202);
      await h.notify.cli.revokeServiceKey(created.record.id);
      await expectRefused(() => h.postEvent(created.key, validEvent()), 401, 'unauthorized');
    });
    it('answers a key without the events:write scope with forbidden', async () => {
      const reader = await h.serviceKey(['events:read']);
      await expectRefused(() => h.postEvent(reader, validEvent()), 403, 'forbidden');
    });
    it('takes the key from X-Service-Key too', async () => {
      const res = await api(h, 'POST', '/v1/events', { body: validEvent(), headers: { 'x-service-key': key } });
      expect(res.status).to.equal(202);
    });
  });

  describe('with an Idempotency-Key', () => {
    it('answers a repeat with the first answer and has one effect', async () => {
      const before = await footprint();
      const body = validEvent();
      const first = await h.postEvent(key, body, { 'idempotency-key': 'order-42' });
      const again = await h.postEvent(key, body, { 'idempotency-key': 'order-42' });
      expect(first.status).to.equal(202);
      expect(again.status).to.equal(202);
      expect(again.body).to.deep.equal(first.body);
      expect(await footprint()).to.deep.equal({ jobs: before.jobs + 1, schedules: before.schedules + 1 });
      const stored = await api(h, 'GET', `/v1/events/${first.body.eventId}`, { headers: { 'x-service-key': key } });
      expect(stored.body.occurrences).to.have.length(1);
    });

    it('has one effect when the same key races from many clients at once', async () => {
      const before = await footprint();
      const body = validEvent();
      const answers = await Promise.all(Array.from({ length: 6 }, () => h.postEvent(key, body, { 'idempotency-key': 'race-1' })));
      expect(answers.map((a) => a.status)).to.deep.equal(Array(6).fill(202));
      expect(new Set(answers.map((a) => a.body.eventId)).size).to.equal(1);
      expect(await footprint()).to.deep.equal({ jobs: before.jobs + 1, schedules: before.schedules + 1 });
    });

    it('answers the same key with another body with conflict, and queues nothing more', async () => {
      expect((await h.postEvent(key, validEvent(), { 'idempotency-key': 'order-43' })).status).to.equal(202);
      await expectRefused(() => h.postEvent(key, { ...validEvent(), priority: 9 }, { 'idempotency-key': 'order-43' }), 409, 'conflict');
    });

    it('keeps keys apart per service key', async () => {
      const otherKey = await h.serviceKey(['events:write']);
      const a = await h.postEvent(key, validEvent(), { 'idempotency-key': 'shared-name' });
      const b = await h.postEvent(otherKey, validEvent(), { 'idempotency-key': 'shared-name' });
      expect(a.body.eventId).to.not.equal(b.body.eventId);
    });
  });

  describe('when accepted', () => {
    it('answers 202 with the event id, queues one expand job on the class queue and records the event', async () => {
      const high = await h.parley.queue.depth('notify.high');
      const res = await h.postEvent(key, { ...validEvent(), priority: 'high', payload: { user: [ann.user.id, ann.user.id], content: ['ep-9'] } });
      expect(res.status).to.equal(202);
      expect(res.body.eventId).to.match(/^[0-9a-f]{24}$/);
      expect(await h.parley.queue.depth('notify.high')).to.equal(high + 1);
      const stored = await api(h, 'GET', `/v1/events/${res.body.eventId}`, { headers: { 'x-service-key': key } });
      expect(stored.body.event).to.include({ type: 'new_episode', priority: 1, priorityClass: 'high' });
      expect(stored.body.event.userIds).to.deep.equal([ann.user.id]);
      expect(stored.body.schedule).to.include({ kind: 'once', status: 'finished' });
      expect(stored.body.occurrences.map((o: any) => o.status)).to.deep.equal(['queued']);
    });

    it('routes priorities to their class queue: 1–3 high, 4–7 normal, 8–10 low', async () => {
      const depths = async () => Promise.all(['notify.high', 'notify.normal', 'notify.low'].map((q) => h.parley.queue.depth(q)));
      const before = await depths();
      for (const priority of [3, 4, 7, 8, 10]) expect((await h.postEvent(key, { ...validEvent(), priority })).status).to.equal(202);
      const after = await depths();
      expect(after.map((d, i) => d - before[i]!)).to.deep.equal([1, 2, 2]);
    });

    it('lists a cron schedule and cancels it through the API', async () => {
      const res = await h.postEvent(key, { ...validEvent(), schedule: '5 4 * * *', timezone: 'Europe/Paris' });
      expect(res.status).to.equal(202);
      const eventId = res.body.eventId;
      const listed = await api(h, 'GET', '/v1/schedules?status=active', { headers: { 'x-service-key': key } });
      const schedule = listed.body.schedules.find((s: any) => s.id === eventId);
      expect(schedule).to.include({ kind: 'cron', cron: '5 4 * * *', timeZone: 'Europe/Paris', status: 'active' });
      // 04:05 in Paris is 02:05 or 03:05 UTC depending on the season.
      expect(new Date(schedule.nextRunAt).getUTCMinutes()).to.equal(5);

      const cancelled = await api(h, 'DELETE', `/v1/schedules/${eventId}`, { headers: { 'x-service-key': key } });
      expect(cancelled.status).to.equal(200);
      expect(cancelled.body.schedule).to.include({ status: 'cancelled', nextRunAt: null });
      const active = await api(h, 'GET', '/v1/schedules?status=active', { headers: { 'x-service-key': key } });
      expect(active.body.schedules.map((s: any) => s.id)).to.not.include(eventId);
      const missing = await api(h, 'DELETE', '/v1/schedules/0123456789abcdef01234567', { headers: { 'x-service-key': key } });
      expect(missing.body.error.code).to.equal('not_found');
    });
  });
});
