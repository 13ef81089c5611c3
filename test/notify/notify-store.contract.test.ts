import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { ParleyError } from '../../server/errors.js';
import { MemoryNotifyStore, MongoNotifyStore, type NewAttempt, type NotifyStore } from '../../server/notify/index.js';
import { newId } from '../../server/store/ids.js';
import { dropDatabase, freshDatabaseUri } from '../support/mongo.js';

/** One driver under test; `peer` is a second store over the same data, as a second process holds. */
interface NotifyStoreFixture {
  readonly store: NotifyStore;
  readonly peer?: NotifyStore;
  close(): Promise<void>;
}

describeNotifyStoreContract('MemoryNotifyStore', () => {
  const store = new MemoryNotifyStore();
  return { store, close: () => store.close() };
});

describeNotifyStoreContract('MongoNotifyStore', () => {
  const uri = freshDatabaseUri().replace('maxPoolSize=8', 'maxPoolSize=4');
  const store = new MongoNotifyStore(uri);
  const peer = new MongoNotifyStore(uri);
  return {
    store,
    peer,
    async close() {
      await Promise.all([store.close(), peer.close()]);
      await dropDatabase(uri);
    },
  };
});

/** The behaviour every NotifyStore driver owes its callers, as documented in server/notify/notify-store.ts. */
function describeNotifyStoreContract(name: string, makeFixture: () => NotifyStoreFixture): void {
  describe(`${name} (notify store contract)`, function () {
    this.timeout(30_000);
    let fixture: NotifyStoreFixture;
    let store: NotifyStore;
    /** The other process when there is one, else the same store (memory drivers live in one process). */
    let other: NotifyStore;

    before(async () => {
      fixture = makeFixture();
      store = fixture.store;
      await store.init();
      await fixture.peer?.init();
      other = fixture.peer ?? store;
    });

    after(async () => {
      await fixture?.close();
    });

    function attemptInput(overrides: Partial<NewAttempt> = {}): NewAttempt {
      const eventId = newId();
      return {
        id: `${eventId}@2026-01-01T00:00:00.000Z:${newId()}:email`,
        eventId,
        occurrenceId: `${eventId}@2026-01-01T00:00:00.000Z`,
        eventType: 'new_episode',
        userId: newId(),
        channel: 'email',
        target: 'ada@example.test',
        priorityClass: 'normal',
        message: { title: 'Subject', body: 'Body', html: '<p>Body</p>', url: null, data: { eventType: 'new_episode', contentIds: ['ep-1'] } },
        status: 'queued',
        ...overrides,
      };
    }

    it('answers ping once initialised, and init can run again', async () => {
      await store.init();
      await store.ping();
      expect(store.driver).to.be.oneOf(['memory', 'mongodb']);
    });

    describe('claims', () => {
      it('grants a key to exactly one of many concurrent claimants across processes', async () => {
        const key = `k-${randomUUID()}`;
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? store : other).claim(key)));
        expect(results.filter(Boolean)).to.have.length(1);
        expect(await store.claim(key)).to.equal(false);
      });
    });

    describe('service keys', () => {
      it('stores a key, lists it, and revokes it once (the first revocation time stays)', async () => {
        const id = newId();
        const created = await store.createServiceKey({ id, name: 'catalog', scopes: ['events:write', 'events:read'], secretHash: 'ab'.repeat(32) });
        expect(created).to.include({ id, name: 'catalog', secretHash: 'ab'.repeat(32), revokedAt: null });
        expect(created.scopes).to.deep.equal(['events:write', 'events:read']);
        expect(await other.getServiceKey(id)).to.deep.equal(created);
        expect((await store.listServiceKeys()).map((k) => k.id)).to.include(id);

        const first = new Date('2026-01-01T00:00:00Z');
        expect((await store.revokeServiceKey(id, first))?.revokedAt?.toISOString()).to.equal(first.toISOString());
        const again = await other.revokeServiceKey(id, new Date('2026-02-01T00:00:00Z'));
        expect(again?.revokedAt?.toISOString()).to.equal(first.toISOString());
        expect(await store.revokeServiceKey(newId(), first)).to.equal(null);
      });

      it('refuses a second key with the same id with conflict', async () => {
        const id = newId();
        await store.createServiceKey({ id, name: 'a', scopes: ['events:write'], secretHash: 'cd'.repeat(32) });
        const err = await store.createServiceKey({ id, name: 'b', scopes: ['events:write'], secretHash: 'ef'.repeat(32) }).catch((e: unknown) => e);
        expect(err).to.be.instanceOf(ParleyError).with.property('code', 'conflict');
      });
    });

    describe('events and idempotency keys', () => {
      it('stores an event as given and deletes it', async () => {
        const id = newId();
        const event = await store.createEvent({
          id,
          type: 'new_episode',
          priority: 1,
          priorityClass: 'high',
          createdDt: new Date('2026-11-21T10:00:00Z'),
          userIds: [newId(), newId()],
          contentIds: ['ep-1'],
          data: { nested: { n: 1 } },
          serviceKeyId: newId(),
          idempotencyKey: 'key-1',
        });
        expect(event.receivedAt).to.be.instanceOf(Date);
        expect(await other.getEvent(id)).to.deep.equal(event);
        await store.deleteEvent(id);
        expect(await other.getEvent(id)).to.equal(null);
      });

      it('keeps the first record of an idempotency key, even under concurrent puts from two processes', async () => {
        const key = `svc:${randomUUID()}`;
        const [a, b] = await Promise.all([
          store.putIdempotencyKey({ key, eventId: 'event-a', requestHash: 'h' }),
          other.putIdempotencyKey({ key, eventId: 'event-b', requestHash: 'h' }),
        ]);
        expect(a.eventId).to.equal(b.eventId);
        const later = await store.putIdempotencyKey({ key, eventId: 'event-c', requestHash: 'other' });
        expect(later).to.include({ eventId: a.eventId, requestHash: 'h' });
      });
    });

    describe('schedules', () => {
      function newSchedule(nextRunAt: Date | null, kind: 'once' | 'cron' = 'once') {
        const id = newId();
        return {
          id,
          eventId: id,
          eventType: 'reminder',
          priorityClass: 'normal' as const,
          kind,
          cron: kind === 'cron' ? '* * * * * *' : null,
          timeZone: 'Europe/Paris',
          startAt: null,
          endAt: null,
          nextRunAt,
        };
      }

      it('creates once per id and returns the stored schedule to a second creator', async () => {
        const input = newSchedule(new Date(Date.now() + 60_000));
        const first = await store.createSchedule(input);
        expect(first).to.include({ status: 'active', kind: 'once', timeZone: 'Europe/Paris', priorityClass: 'normal', lastRunAt: null, cancelledAt: null });
        const second = await other.createSchedule({ ...input, nextRunAt: new Date(0) });
        expect(second.nextRunAt?.toISOString()).to.equal(first.nextRunAt?.toISOString());
      });

      it('lists due active schedules earliest first and moves them on until finished', async () => {
        const base = Date.now() + 3_600_000;
        const later = await store.createSchedule(newSchedule(new Date(base + 2000), 'cron'));
        const earlier = await store.createSchedule(newSchedule(new Date(base + 1000), 'cron'));
        await store.createSchedule(newSchedule(new Date(base + 10_000)));
        const due = (await other.listDueSchedules(new Date(base + 5000), 100)).filter((s) => [later.id, earlier.id].includes(s.id));
        expect(due.map((s) => s.id)).to.deep.equal([earlier.id, later.id]);

        await store.advanceSchedule(earlier.id, { nextRunAt: new Date(base + 6000), lastRunAt: new Date(base + 1000) });
        const moved = await other.getSchedule(earlier.id);
        expect(moved).to.include({ status: 'active' });
        expect(moved?.nextRunAt?.getTime()).to.equal(base + 6000);
        expect(moved?.lastRunAt?.getTime()).to.equal(base + 1000);

        await store.advanceSchedule(earlier.id, { nextRunAt: null, lastRunAt: new Date(base + 6000) });
        expect(await other.getSchedule(earlier.id)).to.include({ status: 'finished', nextRunAt: null });
        const dueNow = await store.listDueSchedules(new Date(base + 100_000), 100);
        expect(dueNow.map((s) => s.id)).to.not.include(earlier.id);
      });

      it('keeps a cancelled schedule cancelled: never due again, even after a racing advance', async () => {
        const schedule = await store.createSchedule(newSchedule(new Date(Date.now() - 1000), 'cron'));
        const at = new Date();
        const cancelled = await other.cancelSchedule(schedule.id, at);
        expect(cancelled).to.include({ status: 'cancelled', nextRunAt: null });
        await store.advanceSchedule(schedule.id, { nextRunAt: new Date(Date.now() - 500), lastRunAt: new Date() });
        expect((await store.listDueSchedules(new Date(), 1000)).map((s) => s.id)).to.not.include(schedule.id);
        expect(await store.getSchedule(schedule.id)).to.include({ status: 'cancelled' });
        expect((await other.listSchedules({ status: 'cancelled', limit: 500 })).map((s) => s.id)).to.include(schedule.id);
        expect(await store.cancelSchedule(newId(), at)).to.equal(null);
      });

      it('pages schedules newest first and filters by status', async () => {
        const made = [];
        for (let i = 0; i < 3; i++) made.push(await store.createSchedule(newSchedule(new Date(Date.now() + 86_400_000))));
        const page = await other.listSchedules({ status: 'active', limit: 2, beforeId: newId() });
        expect(page).to.have.length(2);
        expect(page[0]!.id > page[1]!.id).to.equal(true);
        const older = await other.listSchedules({ status: 'active', limit: 500, beforeId: made[2]!.id });
        expect(older.map((s) => s.id)).to.include(made[1]!.id).and.not.include(made[2]!.id);
      });
    });

    describe('occurrences', () => {
      it('lets exactly one of two processes claim an occurrence', async () => {
        const eventId = newId();
        const input = { id: `${eventId}@2026-01-01T00:00:00.000Z`, eventId, dueAt: new Date('2026-01-01T00:00:00Z') };
        const results = await Promise.all([store.claimOccurrence(input), other.claimOccurrence(input), store.claimOccurrence(input)]);
        expect(results.filter(Boolean)).to.have.length(1);
        expect(await other.getOccurrence(input.id)).to.include({ status: 'claimed', eventId, deliveries: 0 });
      });

      it('reports claimed occurrences as pending until queued, and never moves expanded back', async () => {
        const eventId = newId();
        const ids = [0, 1].map((i) => `${eventId}@2026-01-01T00:00:0${i}.000Z`);
        for (const [i, id] of ids.entries()) await store.claimOccurrence({ id, eventId, dueAt: new Date(`2026-01-01T00:00:0${i}.000Z`) });
        const pending = (await other.listPendingOccurrences(new Date(Date.now() + 1000), 1000)).map((o) => o.id);
        expect(pending).to.include.members(ids);
        expect((await other.listPendingOccurrences(new Date(Date.now() - 60_000), 1000)).map((o) => o.id)).to.not.include(ids[0]);

        await other.markOccurrence(ids[0]!, 'queued');
        await store.markOccurrence(ids[1]!, 'expanded', 3);
        await store.markOccurrence(ids[1]!, 'queued');
        const after = (await store.listPendingOccurrences(new Date(Date.now() + 1000), 1000)).map((o) => o.id);
        expect(after).to.not.include.members(ids);
        expect(await store.getOccurrence(ids[1]!)).to.include({ status: 'expanded', deliveries: 3 });
        expect((await other.listOccurrences(eventId, 10)).map((o) => o.id)).to.deep.equal(ids);
      });
    });

    describe('attempts', () => {
      it('creates attempts once, reporting which were new, and keeps the first version', async () => {
        const a = attemptInput();
        const b = attemptInput({ eventId: a.eventId, occurrenceId: a.occurrenceId, id: `${a.occurrenceId}:x:sms`, channel: 'sms', target: '-', status: 'skipped', error: 'no phone number' });
        const first = await store.createAttempts([a, b]);
        expect(first.map((r) => r.created)).to.deep.equal([true, true]);
        expect(first[1]!.attempt).to.include({ status: 'skipped', lastError: 'no phone number', attempts: 0 });
        expect(first[0]!.attempt.history).to.have.length(1);
        expect(first[0]!.attempt.history[0]).to.include({ status: 'queued', attempt: 0 });

        const c = attemptInput({ eventId: a.eventId, occurrenceId: a.occurrenceId });
        const second = await other.createAttempts([{ ...a, target: 'changed@example.test' }, c]);
        expect(second.map((r) => r.created)).to.deep.equal([false, true]);
        expect(second[0]!.attempt.target).to.equal('ada@example.test');
        expect((await store.listAttempts({ eventId: a.eventId, limit: 10 })).map((r) => r.id)).to.have.members([a.id, b.id, c.id]);
        expect(await store.createAttempts([])).to.deep.equal([]);
      });

      it('records every try in the history with the highest try count', async () => {
        const { attempt } = (await store.createAttempts([attemptInput()]))[0]!;
        await store.recordAttempt(attempt.id, { status: 'retrying', attempt: 1, error: 'SMTP 451' });
        await other.recordAttempt(attempt.id, { status: 'retrying', attempt: 2, error: 'SMTP 451' });
        const sent = await store.recordAttempt(attempt.id, { status: 'sent', attempt: 3, error: null });
        expect(sent).to.include({ status: 'sent', attempts: 3, lastError: null });
        expect(sent!.history.map((h) => [h.status, h.attempt, h.error])).to.deep.equal([
          ['queued', 0, null],
          ['retrying', 1, 'SMTP 451'],
          ['retrying', 2, 'SMTP 451'],
          ['sent', 3, null],
        ]);
        expect(sent!.message).to.deep.equal(attemptInput().message);
        const deferred = await other.recordAttempt(attempt.id, { status: 'deferred', attempt: 0, notBefore: new Date('2030-01-01T07:00:00Z') });
        expect(deferred).to.include({ attempts: 3 });
        expect(deferred!.notBefore?.toISOString()).to.equal('2030-01-01T07:00:00.000Z');
        expect(await store.recordAttempt('nope', { status: 'sent', attempt: 1 })).to.equal(null);
      });

      it('lists a user’s attempts', async () => {
        const userId = newId();
        await store.createAttempts([attemptInput({ userId }), attemptInput({ userId })]);
        expect(await other.listAttempts({ userId, limit: 10 })).to.have.length(2);
        expect(await other.listAttempts({ userId, limit: 0 })).to.deep.equal([]);
      });
    });

    describe('deferred deliveries', () => {
      it('stores a deferral once, lists it when due, and forgets it when deleted', async () => {
        const id = `a-${randomUUID()}#1`;
        const notBefore = new Date(Date.now() + 60_000);
        await store.deferDelivery({ id, attemptId: 'a', queue: 'notify.normal', notBefore });
        await other.deferDelivery({ id, attemptId: 'a', queue: 'notify.low', notBefore: new Date(0) });
        expect((await store.listDueDeferred(new Date(), 1000)).map((d) => d.id)).to.not.include(id);
        const due = (await other.listDueDeferred(new Date(Date.now() + 61_000), 1000)).find((d) => d.id === id);
        expect(due).to.include({ attemptId: 'a', queue: 'notify.normal' });
        await store.deleteDeferred(id);
        expect((await other.listDueDeferred(new Date(Date.now() + 61_000), 1000)).map((d) => d.id)).to.not.include(id);
      });
    });

    describe('profiles and push subscriptions', () => {
      it('creates a profile on first update and merges preference choices', async () => {
        const userId = newId();
        expect(await store.getProfile(userId)).to.equal(null);
        const created = await store.updateProfile(userId, {
          phone: '+33612345678',
          timeZone: 'Europe/Paris',
          quietHours: { start: '22:00', end: '07:00' },
          preferences: [
            { eventType: 'message.offline', channel: 'email', enabled: true },
            { eventType: 'promo', channel: 'email', enabled: false },
          ],
        });
        expect(created).to.include({ userId, phone: '+33612345678', timeZone: 'Europe/Paris', locale: null });
        expect(created.quietHours).to.deep.equal({ start: '22:00', end: '07:00' });

        const updated = await other.updateProfile(userId, {
          locale: 'fr',
          quietHours: null,
          preferences: [
            { eventType: 'promo', channel: 'email', enabled: null },
            { eventType: 'promo', channel: 'push', enabled: true },
          ],
        });
        expect(updated).to.include({ phone: '+33612345678', locale: 'fr', quietHours: null });
        expect(updated.preferences).to.deep.equal([
          { eventType: 'message.offline', channel: 'email', enabled: true },
          { eventType: 'promo', channel: 'push', enabled: true },
        ]);
        expect(await store.getProfile(userId)).to.deep.equal(updated);
        const missing = newId();
        expect((await other.getProfiles([missing, userId])).map((p) => p.userId)).to.deep.equal([userId]);
      });

      it('registers a device once per endpoint, moves it to a new user, and removes it', async () => {
        const [ann, bob] = [newId(), newId()];
        const id = randomUUID().replaceAll('-', '');
        const keys = { p256dh: 'p'.repeat(87), auth: 'a'.repeat(22) };
        const first = await store.putPushSubscription({ id, userId: ann, endpoint: `https://push.example.test/${id}`, keys, expirationTime: null });
        expect(await other.listPushSubscriptions(ann)).to.deep.equal([first]);

        const moved = await other.putPushSubscription({ id, userId: bob, endpoint: `https://push.example.test/${id}`, keys, expirationTime: new Date('2030-01-01T00:00:00Z') });
        expect(moved.createdAt.getTime()).to.equal(first.createdAt.getTime());
        expect(await store.listPushSubscriptions(ann)).to.deep.equal([]);
        expect((await store.getPushSubscription(id))?.userId).to.equal(bob);

        expect(await store.removePushSubscription(id, ann)).to.equal(false);
        expect(await other.removePushSubscription(id, bob)).to.equal(true);
        expect(await store.getPushSubscription(id)).to.equal(null);
      });

      it('deletes a user’s profile and devices together', async () => {
        const userId = newId();
        await store.updateProfile(userId, { phone: '+15551234567' });
        const id = randomUUID().replaceAll('-', '');
        await store.putPushSubscription({ id, userId, endpoint: `https://push.example.test/${id}`, keys: { p256dh: 'p', auth: 'a' }, expirationTime: null });
        await other.deleteUserData(userId);
        expect(await store.getProfile(userId)).to.equal(null);
        expect(await store.listPushSubscriptions(userId)).to.deep.equal([]);
      });
    });
  });
}
