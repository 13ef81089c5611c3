import { expect } from 'chai';
import { createLogger } from '../../server/logger.js';
import {
  BUILT_IN_EVENT_TYPES,
  MemoryNotifyStore,
  runNotifyCli,
  EventTypeRegistry,
  emptyProfile,
  notifyConfigFrom,
  NotifyConfigError,
  priorityClassOf,
  quietState,
  renderTemplate,
} from '../../server/notify/index.js';
import { effectivePreferences } from '../../server/notify/preferences.js';
import { cronProblem, cronTimeAtOrAfter, nextCronTime } from '../../server/notify/schedule-times.js';
import { templatePaths } from '../../server/notify/render-template.js';

describe('notify building blocks', () => {
  describe('templates', () => {
    const vars = { user: { name: 'Ada', email: null }, content: { title: 'Pilot <1>' }, data: { n: 3, list: [1, 2] } };

    it('fills paths, takes the first path with a value, and falls back to text', () => {
      expect(renderTemplate('Hi {{user.name}}, {{ content.title }}!', vars)).to.equal('Hi Ada, Pilot <1>!');
      expect(renderTemplate('{{user.email ?? user.name}}', vars)).to.equal('Ada');
      expect(renderTemplate('{{data.missing | nobody}} {{data.n}} {{data.list}}', vars)).to.equal('nobody 3 [1,2]');
      expect(renderTemplate('{{user.email}}|', vars)).to.equal('|');
    });

    it('escapes for HTML, JSON and URLs', () => {
      expect(renderTemplate('<b>{{content.title}}</b>', vars, 'html')).to.equal('<b>Pilot &lt;1&gt;</b>');
      expect(JSON.parse(renderTemplate('{"t":"{{x}}"}', { x: 'a "quoted"\nline' }, 'json'))).to.deep.equal({ t: 'a "quoted"\nline' });
      expect(renderTemplate('to={{x}}', { x: '+33 6&1' }, 'url')).to.equal('to=%2B33%206%261');
    });

    it('never reaches into prototypes', () => {
      expect(renderTemplate('{{user.constructor}}{{user.__proto__}}{{toString}}', vars)).to.equal('');
    });

    it('uses only variables the pipeline provides in every shipped template', () => {
      const roots = new Set(['user', 'content', 'contents', 'data', 'event']);
      for (const type of BUILT_IN_EVENT_TYPES) {
        const texts = [type.templates, ...Object.values(type.locales ?? {})].flatMap((t) => Object.values(t).flatMap((c) => Object.values(c as Record<string, string>)));
        for (const text of texts) for (const path of templatePaths(text)) expect(roots, `${type.name}: ${path}`).to.include(path.split('.')[0]);
      }
    });
  });

  describe('event types and preferences', () => {
    const registry = new EventTypeRegistry();

    it('ships new_episode, comment_like, promo, reminder and the chat types', () => {
      expect(registry.names()).to.include.members(['new_episode', 'comment_like', 'promo', 'reminder', 'message.offline', 'message.read', 'message.delivered']);
    });

    it('uses the defaults until the user chooses, and never a channel without a template', () => {
      const profile = { ...emptyProfile('u'), preferences: [{ eventType: 'promo', channel: 'push' as const, enabled: true }] };
      const prefs = effectivePreferences(registry, profile);
      expect(prefs.promo).to.deep.equal({ inapp: false, email: true, sms: false, push: true });
      expect(prefs['message.read']).to.deep.equal({ inapp: true, push: false });
      expect(registry.defaultFor('message.read', 'sms')).to.equal(false);
    });

    it('picks templates by exact locale, then language, then the default', () => {
      expect(registry.templatesFor('new_episode', 'fr-CA')?.inapp?.title).to.match(/^Nouvel/);
      expect(registry.templatesFor('new_episode', 'de')?.inapp?.title).to.match(/^New episode/);
      expect(registry.templatesFor('comment_like', 'fr')?.inapp?.title).to.contain('liked');
    });
  });

  describe('priorities', () => {
    it('maps 1–3 to high, 4–7 to normal and 8–10 to low', () => {
      expect([1, 2, 3, 4, 5, 7, 8, 10].map(priorityClassOf)).to.deep.equal(['high', 'high', 'high', 'normal', 'normal', 'normal', 'low', 'low']);
    });
  });

  describe('cron and time zones', () => {
    it('accepts 5 and 6 fields and aliases, and explains what it refuses', () => {
      for (const ok of ['5 4 * * *', '* * * * * *', '@daily', '0 9 * * 1-5']) expect(cronProblem(ok, 'UTC'), ok).to.equal(undefined);
      for (const bad of ['', '* * *', '61 * * * *', 'every day', '1 2 3 4 5 6 7']) expect(cronProblem(bad, 'UTC'), bad).to.be.a('string');
    });

    it('computes occurrences in the schedule’s time zone, across a DST change', () => {
      // 04:05 in Paris: 03:05 UTC in winter, 02:05 UTC in summer (DST began 2026-03-29).
      expect(nextCronTime('5 4 * * *', 'Europe/Paris', new Date('2026-03-28T12:00:00Z'))?.toISOString()).to.equal('2026-03-29T02:05:00.000Z');
      expect(nextCronTime('5 4 * * *', 'Europe/Paris', new Date('2026-03-27T12:00:00Z'))?.toISOString()).to.equal('2026-03-28T03:05:00.000Z');
      expect(cronTimeAtOrAfter('* * * * * *', 'UTC', new Date('2026-01-01T00:00:01.000Z'))?.toISOString()).to.equal('2026-01-01T00:00:01.000Z');
      expect(nextCronTime('0 0 * * *', 'UTC', new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T12:00:00Z'))).to.equal(null);
    });
  });

  describe('quiet hours', () => {
    const night = { start: '22:00', end: '07:00' };

    it('holds across midnight in the user’s time zone and says when it ends', () => {
      // 23:30 in Paris (UTC+1 in January).
      const state = quietState(night, 'Europe/Paris', new Date('2026-01-01T22:30:00Z'));
      expect(state.active).to.equal(true);
      expect(state.endsAt?.toISOString()).to.equal('2026-01-02T06:00:00.000Z');
      expect(quietState(night, 'Europe/Paris', new Date('2026-01-02T05:59:00Z')).active).to.equal(true);
      expect(quietState(night, 'Europe/Paris', new Date('2026-01-02T06:00:00Z')).active).to.equal(false);
      expect(quietState(night, 'Europe/Paris', new Date('2026-01-01T12:00:00Z')).active).to.equal(false);
      // The same instant is daytime in Tokyo.
      expect(quietState(night, 'Asia/Tokyo', new Date('2026-01-01T22:30:00Z')).active).to.equal(false);
    });

    it('treats a window within one day and an empty window correctly', () => {
      const lunch = { start: '12:00', end: '13:30' };
      expect(quietState(lunch, 'UTC', new Date('2026-01-01T12:00:00Z')).active).to.equal(true);
      expect(quietState(lunch, 'UTC', new Date('2026-01-01T13:30:00Z')).active).to.equal(false);
      expect(quietState({ start: '08:00', end: '08:00' }, 'UTC', new Date('2026-01-01T08:00:00Z')).active).to.equal(false);
    });
  });

  describe('configuration', () => {
    it('has a documented default for every setting and names the variable of a bad one', () => {
      const config = notifyConfigFrom({});
      expect(config.workers.concurrency).to.deep.equal({ high: 16, normal: 8, low: 4 });
      expect(config.events.maxRecipients).to.equal(1000);
      expect(config.email.smtpUrl).to.equal(undefined);
      expect(() => notifyConfigFrom({ NOTIFY_CONCURRENCY_HIGH: '0' })).to.throw(NotifyConfigError, /NOTIFY_CONCURRENCY_HIGH/);
      expect(() => notifyConfigFrom({ SMTP_URL: 'http://mail' })).to.throw(NotifyConfigError, /SMTP_URL/);
      expect(() => notifyConfigFrom({ NOTIFY_DEFAULT_TIMEZONE: 'Nowhere/Land' })).to.throw(NotifyConfigError, /NOTIFY_DEFAULT_TIMEZONE/);
    });

    it('wants both VAPID keys or neither, and parses the SMS auth header', () => {
      expect(() => notifyConfigFrom({ VAPID_PUBLIC_KEY: 'B'.repeat(87) })).to.throw(NotifyConfigError, /VAPID_PRIVATE_KEY/);
      expect(notifyConfigFrom({ SMS_URL: 'https://sms.example/send', SMS_AUTH_HEADER: 'X-Api-Key:  k:1' }).sms.authHeader).to.deep.equal({ name: 'X-Api-Key', value: 'k:1' });
    });
  });

  describe('the notify CLI', () => {
    async function cli(store: MemoryNotifyStore, ...args: string[]): Promise<{ code: number; out: string }> {
      let out = '';
      const code = await runNotifyCli(args, { notifyStore: () => store, logger: createLogger('silent'), write: (t) => (out += t) });
      return { code, out };
    }

    it('creates a scoped key shown once, lists it, revokes it, and makes VAPID keys', async () => {
      const store = new MemoryNotifyStore();
      const created = await cli(store, 'key', 'create', 'catalog', 'events:write', 'schedules:read');
      expect(created.code).to.equal(0);
      const key = /key:\s+(psk_\S+)/.exec(created.out)![1]!;
      const id = /id:\s+([0-9a-f]{24})/.exec(created.out)![1]!;
      const [stored] = await store.listServiceKeys();
      expect(stored).to.include({ id, name: 'catalog' });
      expect(stored!.scopes).to.deep.equal(['events:write', 'schedules:read']);
      expect(stored!.secretHash).to.match(/^[0-9a-f]{64}$/).and.not.equal(key);
      expect((await cli(store, 'key', 'list')).out).to.contain(`${id}  catalog  events:write,schedules:read  active`);
      expect((await cli(store, 'key', 'revoke', id)).code).to.equal(0);
      expect((await store.getServiceKey(id))?.revokedAt).to.be.instanceOf(Date);
      expect((await cli(store, 'key', 'create', 'bad', 'everything')).code).to.equal(1);
      expect((await cli(store, 'nonsense')).code).to.equal(2);
      const vapid = await cli(store, 'vapid-keys');
      expect(vapid.out).to.match(/^VAPID_PUBLIC_KEY=[A-Za-z0-9_-]{87}\nVAPID_PRIVATE_KEY=[A-Za-z0-9_-]{43}\n$/);
      expect(() => notifyConfigFrom({ VAPID_PUBLIC_KEY: vapid.out.split('\n')[0]!.split('=')[1]!, VAPID_PRIVATE_KEY: vapid.out.split('\n')[1]!.split('=')[1]! })).to.not.throw();
    });
  });
});
