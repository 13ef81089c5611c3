import { CHANNELS, type Channel } from './notify-store.js';

/**
 * The event types Parley knows how to notify about, each with its default channel preferences and a
 * template per channel (and optionally per locale). An event whose type is not registered is refused
 * with `not_found`. Templates use `render-template.ts` variables:
 *
 * - `user`: `{ id, name, username, email, phone, locale, timeZone }` of the recipient;
 * - `content`: the first resolved content (`{ id, title, … }` as the content resolver answered, or
 *   `{ id, title: id }` without one), `contents`: all of them;
 * - `data`: the event's `payload.data`; `event`: `{ id, type, priority, createdAt }`.
 */

export interface ChannelTemplates {
  readonly inapp?: { readonly title: string; readonly body: string };
  readonly email?: { readonly subject: string; readonly text: string; readonly html?: string };
  readonly sms?: { readonly text: string };
  readonly push?: { readonly title: string; readonly body: string; readonly url?: string };
}

export interface EventTypeDefinition {
  readonly name: string;
  readonly description: string;
  /** Whether each channel is on for users who never chose; channels without a template are always off. */
  readonly defaults: Readonly<Partial<Record<Channel, boolean>>>;
  /** The templates in the default locale. */
  readonly templates: ChannelTemplates;
  /** Other locales by BCP 47 tag (`fr`, `pt-BR`); a missing channel falls back to `templates`. */
  readonly locales?: Readonly<Record<string, ChannelTemplates>>;
}

export const BUILT_IN_EVENT_TYPES: readonly EventTypeDefinition[] = [
  {
    name: 'new_episode',
    description: 'A new episode of a show the user follows is out.',
    defaults: { inapp: true, push: true, email: true, sms: false },
    templates: {
      inapp: { title: 'New episode: {{content.title}}', body: '{{content.title}} is out now.' },
      email: {
        subject: 'New episode: {{content.title}}',
        text: 'Hi {{user.name}},\n\n{{content.title}} is out now. Watch it at {{content.url | the app}}.\n\n— Parley',
        html: '<p>Hi {{user.name}},</p><p><strong>{{content.title}}</strong> is out now.</p>',
      },
      sms: { text: 'New episode: {{content.title}}' },
      push: { title: 'New episode', body: '{{content.title}} is out now.', url: '{{content.url}}' },
    },
    locales: {
      fr: {
        inapp: { title: 'Nouvel épisode : {{content.title}}', body: '{{content.title}} est disponible.' },
        email: {
          subject: 'Nouvel épisode : {{content.title}}',
          text: 'Bonjour {{user.name}},\n\n{{content.title}} est disponible.\n\n— Parley',
          html: '<p>Bonjour {{user.name}},</p><p><strong>{{content.title}}</strong> est disponible.</p>',
        },
        sms: { text: 'Nouvel épisode : {{content.title}}' },
        push: { title: 'Nouvel épisode', body: '{{content.title}} est disponible.' },
      },
    },
  },
  {
    name: 'comment_like',
    description: 'Someone liked a comment of the user.',
    defaults: { inapp: true, push: true, email: false, sms: false },
    templates: {
      inapp: { title: '{{data.actor | Someone}} liked your comment', body: 'On {{content.title}}' },
      email: { subject: '{{data.actor | Someone}} liked your comment', text: 'Hi {{user.name}}, {{data.actor | someone}} liked your comment on {{content.title}}.' },
      push: { title: 'New like', body: '{{data.actor | Someone}} liked your comment on {{content.title}}' },
    },
  },
  {
    name: 'promo',
    description: 'A promotion; marketing, so only email is on unless the user opts in.',
    defaults: { inapp: false, push: false, email: true, sms: false },
    templates: {
      inapp: { title: '{{data.headline | A special offer}}', body: '{{content.title}}' },
      email: {
        subject: '{{data.headline | A special offer for you}}',
        text: 'Hi {{user.name}},\n\n{{data.text | Have a look at}} {{content.title}}.\n\nTo stop these emails, turn promo emails off in your notification settings.',
      },
      sms: { text: '{{data.headline | Offer}}: {{content.title}}' },
      push: { title: '{{data.headline | A special offer}}', body: '{{content.title}}' },
    },
  },
  {
    name: 'reminder',
    description: 'A reminder the user asked for (an event starting, a deadline).',
    defaults: { inapp: true, push: true, email: false, sms: true },
    templates: {
      inapp: { title: 'Reminder', body: '{{data.text ?? content.title}}' },
      email: { subject: 'Reminder: {{data.text ?? content.title}}', text: 'Hi {{user.name}}, this is your reminder: {{data.text ?? content.title}}' },
      sms: { text: 'Reminder: {{data.text ?? content.title}}' },
      push: { title: 'Reminder', body: '{{data.text ?? content.title}}' },
    },
  },
  {
    name: 'message.offline',
    description: 'Chat messages arrived while the user had no open connection: the first of a coalescing window, or the summary of the rest.',
    defaults: { inapp: true, push: true, email: false, sms: false },
    // data (server/chat/offline-delivery.ts): kind ('message' | 'summary'), conversationId, messageId,
    // seq, count, from, title ("New message from Ann", "3 new messages from Ann"), preview.
    templates: {
      inapp: { title: '{{data.title | New message}}', body: '{{data.preview}}' },
      email: { subject: '{{data.title | New message}}', text: 'Hi {{user.name}},\n\n{{data.title | You have a new message}}. The latest, from {{data.from | someone}}:\n\n{{data.preview}}' },
      push: { title: '{{data.title | New message}}', body: '{{data.preview}}' },
    },
  },
  {
    name: 'message.read',
    description: 'Someone read a message the user sent.',
    defaults: { inapp: true, push: false, email: false, sms: false },
    templates: {
      inapp: { title: '{{data.reader | Someone}} read your message', body: '{{data.preview}}' },
      push: { title: 'Read', body: '{{data.reader | Someone}} read your message' },
    },
  },
  {
    name: 'message.delivered',
    description: 'A scheduled message of the user was delivered.',
    defaults: { inapp: true, push: false, email: false, sms: false },
    templates: {
      inapp: { title: 'Your scheduled message was delivered', body: '{{data.preview}}' },
      push: { title: 'Delivered', body: 'Your scheduled message was delivered' },
    },
  },
];

/**
 * The registry of event types.
 *
 * @example
 * const registry = new EventTypeRegistry([...BUILT_IN_EVENT_TYPES, myType]);
 * registry.get('new_episode')?.defaults.email; // true
 */
export class EventTypeRegistry {
  private readonly types: ReadonlyMap<string, EventTypeDefinition>;

  constructor(definitions: readonly EventTypeDefinition[] = BUILT_IN_EVENT_TYPES) {
    const types = new Map<string, EventTypeDefinition>();
    for (const definition of definitions) {
      if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(definition.name)) throw new Error(`invalid event type name ${definition.name}`);
      // A later definition replaces a built-in one of the same name.
      types.set(definition.name, definition);
    }
    this.types = types;
  }

  get(name: string): EventTypeDefinition | undefined {
    return this.types.get(name);
  }

  names(): string[] {
    return [...this.types.keys()].sort();
  }

  /** The channels this type can use at all: those with a template. */
  channelsOf(name: string): Channel[] {
    const type = this.types.get(name);
    if (!type) return [];
    return CHANNELS.filter((channel) => type.templates[channel] !== undefined);
  }

  /** Whether the channel is on for a user who never chose. */
  defaultFor(name: string, channel: Channel): boolean {
    const type = this.types.get(name);
    if (!type || type.templates[channel] === undefined) return false;
    return type.defaults[channel] ?? false;
  }

  /** The templates for a locale: the exact tag, then its language, then the defaults, per channel. */
  templatesFor(name: string, locale: string | null): ChannelTemplates | undefined {
    const type = this.types.get(name);
    if (!type) return undefined;
    if (!locale || !type.locales) return type.templates;
    const exact = type.locales[locale];
    const language = type.locales[locale.split('-')[0]!.toLowerCase()];
    return { ...type.templates, ...language, ...exact };
  }
}
