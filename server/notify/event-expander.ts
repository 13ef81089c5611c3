import type { Logger } from '../logger.js';
import { UnrecoverableJobError } from '../queue/index.js';
import type { Store, UserRecord } from '../store/index.js';
import type { ChannelAdapter } from './channels/channel.js';
import type { ContentResolver, ResolvedContent } from './content-resolver.js';
import type { ChannelTemplates, EventTypeRegistry } from './event-types.js';
import type { NotifyConfig } from './notify-config.js';
import { NotifyPublisher, type ExpandJob } from './notify-jobs.js';
import {
  emptyProfile,
  type Channel,
  type EventRecord,
  type NewAttempt,
  type NotifyProfile,
  type NotifyStore,
  type PushSubscriptionRecord,
  type RenderedMessage,
} from './notify-store.js';
import { classQueue } from './priority.js';
import { isChannelEnabled } from './preferences.js';
import { renderTemplate, type TemplateVariables } from './render-template.js';

/** Recipients read and written per round: point lookups on FerretDB, bounded publish bursts. */
const CHUNK = 32;

/**
 * The expand step: one occurrence of an event becomes one delivery per recipient and channel. For
 * each recipient it reads the account (name, email) and the notification profile (phone, locale, time
 * zone, preferences, push subscriptions), picks the channels the user wants and can be reached on,
 * renders the templates in the user's locale and records an attempt per delivery before publishing
 * its job. Attempt ids are deterministic, so running the same occurrence again finds the attempts it
 * made and only publishes those still queued.
 */
export class EventExpander {
  private readonly log: Logger;

  constructor(
    private readonly deps: {
      readonly store: Store;
      readonly notifyStore: NotifyStore;
      readonly registry: EventTypeRegistry;
      readonly resolver: ContentResolver;
      readonly channels: ReadonlyMap<Channel, ChannelAdapter>;
      readonly publisher: NotifyPublisher;
      readonly defaults: NotifyConfig['defaults'];
    },
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'notify-expander' });
  }

  async expand(job: ExpandJob): Promise<number> {
    const { notifyStore } = this.deps;
    const [occurrence, event] = await Promise.all([notifyStore.getOccurrence(job.occurrenceId), notifyStore.getEvent(job.eventId)]);
    if (!occurrence || !event) throw new UnrecoverableJobError(`no occurrence ${job.occurrenceId} of event ${job.eventId}`);
    if (occurrence.status === 'expanded') return occurrence.deliveries;
    if (!this.deps.registry.get(event.type)) throw new UnrecoverableJobError(`event type ${event.type} is no longer registered`);
    const contents = await this.deps.resolver.resolve(event.contentIds);
    let deliveries = 0;
    for (let i = 0; i < event.userIds.length; i += CHUNK) {
      deliveries += await this.expandChunk(event, occurrence.id, contents, event.userIds.slice(i, i + CHUNK));
    }
    await notifyStore.markOccurrence(occurrence.id, 'expanded', deliveries);
    this.log.debug({ occurrenceId: occurrence.id, eventType: event.type, recipients: event.userIds.length, deliveries }, 'occurrence expanded');
    return deliveries;
  }

  private async expandChunk(event: EventRecord, occurrenceId: string, contents: readonly ResolvedContent[], userIds: readonly string[]): Promise<number> {
    const { store, notifyStore, publisher } = this.deps;
    const [users, profiles] = await Promise.all([store.getUsers(userIds), notifyStore.getProfiles(userIds)]);
    const profileOf = new Map(profiles.map((p) => [p.userId, p]));
    const planned = await Promise.all(
      users.filter((user) => user.status === 'active').map((user) => this.plan(event, occurrenceId, contents, user, profileOf.get(user.id) ?? emptyProfile(user.id))),
    );
    const stored = await notifyStore.createAttempts(planned.flat());
    const toQueue = stored.filter(({ attempt }) => attempt.status === 'queued');
    const queueName = classQueue(event.priorityClass);
    await Promise.all(toQueue.map(({ attempt }) => publisher.deliver(queueName, attempt.id)));
    return stored.filter(({ attempt }) => attempt.status !== 'skipped').length;
  }

  /** The attempts for one recipient: every channel they want, queued, or skipped with the reason. */
  private async plan(event: EventRecord, occurrenceId: string, contents: readonly ResolvedContent[], user: UserRecord, profile: NotifyProfile): Promise<NewAttempt[]> {
    const { registry, channels, notifyStore, defaults } = this.deps;
    const templates = registry.templatesFor(event.type, profile.locale ?? defaults.locale);
    if (!templates) return [];
    const wanted = registry.channelsOf(event.type).filter((channel) => isChannelEnabled(registry, profile, event.type, channel));
    const variables = templateVariables(event, contents, user, profile);
    const base = { eventId: event.id, occurrenceId, eventType: event.type, userId: user.id, priorityClass: event.priorityClass };
    const attempts: NewAttempt[] = [];
    for (const channel of wanted) {
      const message = renderFor(channel, templates, variables, event);
      if (!message) continue;
      const id = `${occurrenceId}:${user.id}:${channel}`;
      const skip = (reason: string): NewAttempt => ({ ...base, id, channel, target: '-', message, status: 'skipped', error: reason });
      if (!channels.get(channel)?.configured) {
        attempts.push(skip(`the ${channel} channel is not configured`));
        continue;
      }
      switch (channel) {
        case 'inapp':
          attempts.push({ ...base, id, channel, target: user.id, message, status: 'queued' });
          break;
        case 'email':
          attempts.push(user.email ? { ...base, id, channel, target: user.email, message, status: 'queued' } : skip('no email address'));
          break;
        case 'sms':
          attempts.push(profile.phone ? { ...base, id, channel, target: profile.phone, message, status: 'queued' } : skip('no phone number'));
          break;
        case 'push': {
          const subscriptions: PushSubscriptionRecord[] = await notifyStore.listPushSubscriptions(user.id);
          if (subscriptions.length === 0) attempts.push(skip('no push subscription'));
          for (const sub of subscriptions) attempts.push({ ...base, id: `${id}:${sub.id}`, channel, target: sub.id, message, status: 'queued' });
          break;
        }
      }
    }
    return attempts;
  }
}

function templateVariables(event: EventRecord, contents: readonly ResolvedContent[], user: UserRecord, profile: NotifyProfile): TemplateVariables {
  return {
    user: {
      id: user.id,
      name: user.displayName ?? user.username,
      username: user.username,
      email: user.email,
      phone: profile.phone,
      locale: profile.locale,
      timeZone: profile.timeZone,
    },
    content: contents[0] ?? {},
    contents,
    data: event.data,
    event: { id: event.id, type: event.type, priority: event.priority, createdAt: (event.createdDt ?? event.receivedAt).toISOString() },
  };
}

function renderFor(channel: Channel, templates: ChannelTemplates, vars: TemplateVariables, event: EventRecord): RenderedMessage | undefined {
  // The event's own data goes along, so a client can act on a notification (open the conversation).
  const data = { ...event.data, eventType: event.type, contentIds: [...event.contentIds] };
  const render = (template: string | undefined) => (template === undefined ? '' : renderTemplate(template, vars).trim());
  switch (channel) {
    case 'inapp':
      return templates.inapp && { title: render(templates.inapp.title), body: render(templates.inapp.body), html: null, url: null, data };
    case 'email':
      return (
        templates.email && {
          title: render(templates.email.subject),
          body: render(templates.email.text),
          html: templates.email.html ? renderTemplate(templates.email.html, vars, 'html') : null,
          url: null,
          data,
        }
      );
    case 'sms':
      return templates.sms && { title: null, body: render(templates.sms.text), html: null, url: null, data };
    case 'push':
      return templates.push && { title: render(templates.push.title), body: render(templates.push.body), html: null, url: render(templates.push.url) || null, data };
  }
}
