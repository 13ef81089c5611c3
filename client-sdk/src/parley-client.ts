import { io, type Socket } from 'socket.io-client';
import { type BackoffOptions, backoffDelay, Waker } from './backoff.js';
import { newClientMsgId } from './client-msg-id.js';
import { CursorBatcher } from './cursor-batcher.js';
import { ParleyClientError, toClientError } from './errors.js';
import { decodeJwtPayload } from './jwt.js';
import { MessageStream } from './message-stream.js';
import { Outbox, type OutboxEvent } from './outbox.js';
import { MemoryOutboxStorage, type OutboxEntry, type OutboxStorage } from './outbox-storage.js';
import { PresenceSubscriptions } from './presence-subscriptions.js';
import type {
  ClientToServerEvents,
  Conversation,
  Message,
  Notification,
  Presence,
  ReceiptEvent,
  SendMessagePayload,
  ServerToClientEvents,
  TypingEvent,
  User,
} from './protocol.js';
import { type FetchFunction, type GetToken, type GetTokenOptions, RestClient } from './rest-client.js';
import type {
  ConversationAnswer,
  ConversationList,
  HistoryPage,
  HistoryQuery,
  MessageAnswer,
  NotificationPage,
  NotificationsQuery,
  UnreadCountAnswer,
  UserAnswer,
  UserSettings,
} from './sdk-types.js';
import { TypedEmitter } from './typed-emitter.js';
import { type TypingOptions, TypingSender, TypingTracker } from './typing.js';

/**
 * - `connecting`: the socket is (re)connecting and has not failed often enough to give up on it yet.
 * - `online`: the socket is connected; everything goes over it.
 * - `fallback`: the socket keeps failing but the REST API answers: sends go over REST and new messages
 *   are polled. The socket is still retried in the background.
 * - `offline`: neither answers (or the client is closed). Sends wait in the outbox.
 */
export type ConnectionState = 'connecting' | 'online' | 'offline' | 'fallback';

export type ParleySocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** What a ParleyClient emits. Adding a server event is one entry here plus one line in `#bindSocket`. */
export interface ParleyClientEvents {
  /** A message, once, in seq order per conversation (also your own, also those sent from other devices). */
  message: (message: Message) => void;
  /** An edit or a delete for everyone of a message you already got. */
  messageUpdated: (message: Message) => void;
  /** Someone's delivered/read cursor moved (yours too). Not available in `fallback`. */
  receipt: (receipt: ReceiptEvent) => void;
  /** A conversation was created, changed members, or had news while you were away (fresh counts). */
  conversation: (conversation: Conversation) => void;
  /**
   * Another member started or stopped typing. Changes only: repeated starts are not re-emitted, and a
   * `stop` also comes when they send a message, go quiet for `typing.remoteTimeoutMs`, or the socket drops.
   */
  typing: (typing: TypingEvent) => void;
  /**
   * A subscribed user's presence changed (see `subscribePresence`), including changes found when the
   * client subscribes again after a reconnect.
   */
  presence: (presence: Presence) => void;
  /** A new in-app notification (live only while the socket is up; `notifications()` has the inbox). */
  notification: (notification: Notification) => void;
  /** One of your scheduled messages changed before delivery (withdrawn, from any of your devices). */
  scheduledUpdated: (message: Message) => void;
  /** The connection state changed. */
  connection: (state: ConnectionState) => void;
  /** An outbox entry was queued, sent or failed. */
  outbox: (event: OutboxEvent) => void;
  /** A background failure the app may want to show (e.g. `unauthorized`: sign in again). */
  error: (error: ParleyClientError) => void;
}

export interface ReconnectOptions {
  /** First delay before reconnecting / retrying (default 1000 ms). */
  initialMs?: number;
  /** Largest delay (default 10 000 ms). */
  maxMs?: number;
  /** Jitter, 0 … 1 (default 0.5). */
  jitter?: number;
}

export interface FallbackOptions {
  /** Consecutive failed connection attempts before trying REST (default 3). */
  afterFailures?: number;
  /** How often to poll for new messages while in fallback (default 5000 ms). */
  pollIntervalMs?: number;
}

export interface ClientOptions {
  /** Base URL of the Parley server, e.g. `https://chat.example.com` (REST and Socket.IO). */
  url: string;
  /** Returns an access token; see `createTokenSession`. Called before every (re)connect and REST call. */
  getToken: GetToken;
  /** Where unsent messages are kept (default: in memory). */
  storage?: OutboxStorage;
  /** Socket.IO transports (default: polling, upgraded to WebSocket). */
  transports?: string[];
  /** A `fetch` implementation (default: the global one). */
  fetch?: FetchFunction;
  /** Last seq the app already holds per conversation; without it the client starts from "now". */
  lastSeqs?: Record<string, number>;
  /** Send `receipt:delivered` for messages from others as they are emitted (default true). */
  autoDelivered?: boolean;
  reconnect?: ReconnectOptions;
  /** REST fallback settings, or `false` to stay on the socket only. */
  fallback?: FallbackOptions | false;
  /** How long to wait for a socket ack (default 10 000 ms). */
  ackTimeoutMs?: number;
  /** How long to wait for a REST answer (default 15 000 ms). */
  requestTimeoutMs?: number;
  /** How long to wait for the socket handshake (default 10 000 ms). */
  connectTimeoutMs?: number;
  /** Coalescing window of `markRead` and delivered receipts (default 300 ms). */
  receiptDelayMs?: number;
  /** Page size for catching up over REST; at most the server's MAX_PAGE_SIZE (default 100). */
  pageSize?: number;
  /** Typing indicator timing (see `typing()`). */
  typing?: TypingOptions;
}

export interface SendOptions {
  meta?: Record<string, unknown>;
  /** Your own idempotency key (1–64 chars of `A–Z a–z 0–9 _ . : -`); default: a random UUID. */
  clientMsgId?: string;
  /**
   * Schedule the message for this future time (at most a year ahead). It then bypasses the outbox: see
   * `send`. The delivered message keeps the scheduled one's `clientMsgId`.
   */
  deliverAt?: Date | string;
}

type AckedEvent =
  | 'message:send'
  | 'message:edit'
  | 'message:delete'
  | 'message:withdraw'
  | 'receipt:delivered'
  | 'receipt:read'
  | 'sync'
  | 'presence:subscribe'
  | 'presence:unsubscribe';

/** How many user ids one `presence:subscribe` may name. */
const PRESENCE_BATCH = 1000;
type PayloadOf<E extends AckedEvent> = Parameters<ClientToServerEvents[E]>[0];
type AnswerOf<E extends AckedEvent> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];
type SuccessOf<E extends AckedEvent> = Extract<AnswerOf<E>, { ok: true }>;

/**
 * Connects to Parley and starts delivering: see {@link ParleyClient}.
 *
 * @example
 * const session = createTokenSession({ url, accessToken, refreshToken });
 * const client = createClient({ url, getToken: session.getToken });
 * client.on('message', (m) => console.log(m.seq, m.text));
 * const { id } = await client.openDirect(otherUserId);
 * await client.send(id, 'hello');
 */
export function createClient(options: ClientOptions): ParleyClient {
  return new ParleyClient(options);
}

/**
 * A Parley connection for one user. It keeps the socket up (fresh token on every handshake, backoff
 * with jitter, REST fallback when the socket cannot connect), hands the app each message once and in
 * order, and sends through a persistent outbox.
 *
 * @example
 * const client = createClient({ url, getToken: session.getToken, storage: new LocalStorageOutboxStorage() });
 * client.on('connection', (state) => banner.textContent = state);
 * client.on('message', (m) => render(m));
 * client.markRead(conversationId, lastSeqOnScreen);
 * await client.close();
 */
export class ParleyClient extends TypedEmitter<ParleyClientEvents> {
  /** The underlying Socket.IO socket (for diagnostics; the client owns its lifecycle). */
  readonly socket: ParleySocket;

  readonly #getToken: GetToken;
  readonly #rest: RestClient;
  readonly #stream: MessageStream;
  readonly #outbox: Outbox;
  readonly #reads: CursorBatcher;
  readonly #delivered: CursorBatcher;
  readonly #retry: BackoffOptions;
  readonly #fallbackAfter: number;
  readonly #pollIntervalMs: number;
  readonly #ackTimeoutMs: number;
  readonly #pageSize: number;
  readonly #autoDelivered: boolean;
  readonly #fallbackWaker = new Waker();
  readonly #stateWaiters = new Set<() => void>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #readyWaiters = new Set<{ resolve: () => void; reject: (error: ParleyClientError) => void }>();
  readonly #typing: TypingSender;
  readonly #remoteTyping: TypingTracker;
  readonly #presence = new PresenceSubscriptions();
  /** Woken at every connect: cuts short the backoff of requests that need the socket. */
  readonly #connectWaker = new Waker();
  #presenceFailures = 0;

  #state: ConnectionState = 'connecting';
  #userId: string | undefined;
  #closed = false;
  #connectFailures = 0;
  #manualAttempts = 0;
  #syncFailures = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #forceRefreshNext = false;
  #unauthorizedRetried = false;
  #fallbackRunning = false;

  constructor(options: ClientOptions) {
    super();
    const url = options.url.replace(/\/+$/, '');
    this.#getToken = options.getToken;
    this.#retry = {
      initialMs: options.reconnect?.initialMs ?? 1000,
      maxMs: options.reconnect?.maxMs ?? 10_000,
      jitter: options.reconnect?.jitter ?? 0.5,
    };
    this.#fallbackAfter = options.fallback === false ? Number.POSITIVE_INFINITY : (options.fallback?.afterFailures ?? 3);
    this.#pollIntervalMs = (options.fallback === false ? undefined : options.fallback?.pollIntervalMs) ?? 5000;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.#pageSize = options.pageSize ?? 100;
    this.#autoDelivered = options.autoDelivered ?? true;
    const receiptDelayMs = options.receiptDelayMs ?? 300;

    this.#rest = new RestClient({ url, getToken: (o) => this.#token(o), fetch: options.fetch, timeoutMs: options.requestTimeoutMs });
    this.#stream = new MessageStream(
      {
        history: (conversationId, afterSeq) => this.history(conversationId, { afterSeq, limit: this.#pageSize }),
        deliver: (message) => this.#deliver(message),
      },
      options.lastSeqs,
    );
    this.#outbox = new Outbox({
      storage: options.storage ?? new MemoryOutboxStorage(),
      transportReady: () => this.#transportReady(),
      transmit: (entry) => this.#transmit(entry),
      retry: this.#retry,
      onEvent: (event) => this.emit('outbox', event),
    });
    this.#typing = new TypingSender((conversationId, state) => this.#emitTyping(conversationId, state), {
      startIntervalMs: options.typing?.startIntervalMs ?? 2000,
      idleMs: options.typing?.idleMs ?? 3000,
    });
    this.#remoteTyping = new TypingTracker((event) => this.emit('typing', event), { timeoutMs: options.typing?.remoteTimeoutMs ?? 6000 });
    const onError = (error: ParleyClientError): void => this.#report(error);
    this.#reads = new CursorBatcher({ send: (id, seq) => this.#sendRead(id, seq), delayMs: receiptDelayMs, retry: this.#retry, onError });
    this.#delivered = new CursorBatcher({ send: (id, seq) => this.#sendDelivered(id, seq), delayMs: receiptDelayMs, retry: this.#retry, onError });

    this.socket = io(url, {
      autoConnect: false,
      // Without it, two clients for one URL in one page would share a connection and its credentials.
      forceNew: true,
      reconnectionDelay: this.#retry.initialMs,
      reconnectionDelayMax: this.#retry.maxMs,
      randomizationFactor: this.#retry.jitter,
      timeout: options.connectTimeoutMs ?? 10_000,
      // A function, so that every (re)connect presents a fresh token.
      auth: (cb) => this.#handshakeAuth(cb),
      // engine.io treats an explicit `transports: undefined` as "none".
      ...(options.transports ? { transports: options.transports } : {}),
    });
    this.#bindSocket();
    this.socket.connect();
  }

  /**
   * Resolves once the client knows where "now" is: the first catch-up (socket sync or REST poll) has
   * set the baseline, and every message stored after it will be emitted. Load your initial state
   * (`conversations()`, `history()`) after this; messages that show up in both are the same seq.
   * Rejects with `closed` if the client is closed first.
   *
   * @example
   * const client = createClient({ url, getToken });
   * await client.ready();
   * render(await client.conversations());
   * client.on('message', upsertBySeq);
   */
  ready(): Promise<void> {
    if (this.#stream.baselined) return Promise.resolve();
    if (this.#closed) return Promise.reject(new ParleyClientError('closed', 'the client was closed'));
    return new Promise((resolve, reject) => this.#readyWaiters.add({ resolve, reject }));
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Your user id, known once a token was fetched (it is the access token's `sub`). */
  get userId(): string | undefined {
    return this.#userId;
  }

  /**
   * Sends a message through the outbox: persisted first, retried with the same clientMsgId across
   * disconnects, one in flight per conversation in call order. Resolves with the stored message; rejects
   * on a permanent error (`invalid_payload`, `forbidden`, `not_found`, `blocked`, `payload_too_large`,
   * `conflict`) or with `closed` if the client is closed first (the entry stays in storage).
   * Ends your typing indicator in that conversation.
   *
   * With `deliverAt` the message is **scheduled**: it resolves with the scheduled view (`seq: 0`,
   * `status: 'scheduled'`, `id` = the id for `withdraw`), and at its time every member (you too) gets it
   * as a normal `message` with a seq and the same `clientMsgId`. A scheduled send does not go through
   * the outbox: it is not persisted across reloads and does not wait behind (or hold up) the
   * conversation's other sends, since its place in the conversation is decided at delivery anyway. It
   * waits for a connection and retries transient failures with the same clientMsgId (the server keeps
   * one scheduled message per clientMsgId) until `deliverAt`; if it could not be scheduled by then it
   * rejects with the last error rather than deliver late.
   *
   * @example
   * const message = await client.send(conversationId, 'hello', { meta: { kind: 'greeting' } });
   * console.log(message.seq);
   *
   * @example
   * const later = await client.send(conversationId, 'happy birthday!', { deliverAt: new Date('2031-05-04T08:00:00Z') });
   * console.log(later.status, later.deliverAt); // 'scheduled', '2031-05-04T08:00:00.000Z'
   * await client.withdraw(later.id);             // changed my mind
   */
  send(conversationId: string, text: string, options: SendOptions = {}): Promise<Message> {
    this.#typing.stop(conversationId);
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const meta = options.meta === undefined ? {} : { meta: options.meta };
    if (options.deliverAt !== undefined) {
      const deliverAt = typeof options.deliverAt === 'string' ? options.deliverAt : options.deliverAt.toISOString();
      return this.#sendScheduled({ conversationId, clientMsgId, text, deliverAt, ...meta });
    }
    return this.#outbox.enqueue({ conversationId, text, clientMsgId, ...meta });
  }

  /**
   * Withdraws one of your scheduled messages before its time (`id` of the view `send` resolved with).
   * Rejects with `conflict` if it was delivered already, `not_found` / `forbidden` if it is not yours.
   * Withdrawing twice is fine. Your other devices get `scheduledUpdated` with `status: 'withdrawn'`.
   *
   * @example
   * const scheduled = await client.send(conversationId, 'see you at 8', { deliverAt: in1Hour });
   * await client.withdraw(scheduled.id);
   */
  async withdraw(scheduledId: string): Promise<void> {
    if (this.#state === 'online') {
      await this.#request('message:withdraw', { messageId: scheduledId });
      return;
    }
    await this.#rest.delete<object>(`/v1/scheduled-messages/${encodeURIComponent(scheduledId)}`);
  }

  /**
   * Call on every keystroke in a conversation's composer: sends `start` at once and then at most every
   * `typing.startIntervalMs` (2 s) while calls keep coming, and `stop` after `typing.idleMs` (3 s) without
   * one, at `stopTyping`, or when you `send` to that conversation. Only sent while `online` (never
   * queued: a stale indicator is worse than none); the server ends it by itself if the socket drops.
   *
   * @example
   * input.addEventListener('input', () => client.typing(conversationId));
   * input.addEventListener('blur', () => client.stopTyping(conversationId));
   */
  typing(conversationId: string): void {
    if (this.#closed) return;
    this.#typing.typing(conversationId);
  }

  /**
   * Ends your typing indicator in a conversation now (no-op if none is standing).
   *
   * @example
   * composer.addEventListener('reset', () => client.stopTyping(conversationId));
   */
  stopTyping(conversationId: string): void {
    this.#typing.stop(conversationId);
  }

  /**
   * Who is typing in a conversation now, as the `typing` events said (other members only).
   *
   * @example
   * client.on('typing', (t) => renderTyping(t.conversationId, client.typingUsers(t.conversationId)));
   */
  typingUsers(conversationId: string): string[] {
    return this.#remoteTyping.typingIn(conversationId);
  }

  /**
   * Subscribes to users' presence and resolves with their current `{ userId, online, lastSeenAt }`.
   * Only users you share a conversation with (and neither blocked the other) are visible: the others are
   * left out of the answer and never produce events. Each user's first known presence is also emitted
   * as a `presence` event, and then every change is. The
   * client remembers its subscriptions and subscribes again after every reconnect, emitting `presence`
   * for whatever changed meanwhile. `lastSeenAt` is null while online, or if the user hides it.
   * Waits for the socket if it is down (presence has no REST fallback).
   *
   * @example
   * client.on('presence', (p) => setDot(p.userId, p.online, p.lastSeenAt));
   * const [bob] = await client.subscribePresence([bobId]);
   * console.log(bob?.online ? 'online' : `last seen ${bob?.lastSeenAt ?? 'recently'}`);
   */
  async subscribePresence(userIds: readonly string[]): Promise<Presence[]> {
    if (this.#closed) throw new ParleyClientError('closed', 'the client was closed');
    const ids = this.#presence.add(userIds.filter((id) => id !== this.#userId));
    if (ids.length === 0) return [];
    for (let attempt = 0; ; attempt += 1) {
      await this.#whenOnline();
      if (this.#closed) throw new ParleyClientError('closed', 'the client was closed');
      try {
        await this.#subscribeOnSocket(ids);
        return ids.map((id) => this.#presence.get(id)).filter((p): p is Presence => p !== undefined);
      } catch (err) {
        const error = toClientError(err);
        if (error.permanent || error.code === 'unauthorized' || this.#closed) throw error;
        await this.#connectWaker.wait(backoffDelay(attempt, this.#retry));
      }
    }
  }

  /**
   * Ends presence subscriptions (no more `presence` events for these users).
   *
   * @example
   * await client.unsubscribePresence([bobId]);
   */
  async unsubscribePresence(userIds: readonly string[]): Promise<void> {
    const ids = this.#presence.remove(userIds);
    if (ids.length === 0 || this.#state !== 'online') return;
    for (let i = 0; i < ids.length; i += PRESENCE_BATCH) {
      // Best effort: the events of users no longer subscribed are dropped anyway.
      await this.#request('presence:unsubscribe', { userIds: ids.slice(i, i + PRESENCE_BATCH) }).catch(() => undefined);
    }
  }

  /**
   * The last known presence of a subscribed user (undefined before the first answer, or if not visible).
   *
   * @example
   * const online = client.presenceOf(bobId)?.online ?? false;
   */
  presenceOf(userId: string): Presence | undefined {
    return this.#presence.get(userId);
  }

  /**
   * Your in-app notifications, newest first, with your total unread count. Page with `before`.
   *
   * @example
   * const { notifications, unreadCount } = await client.notifications({ limit: 20 });
   * const older = await client.notifications({ limit: 20, before: notifications.at(-1)?.id });
   * const unread = await client.notifications({ unreadOnly: true });
   */
  notifications(query: NotificationsQuery = {}): Promise<NotificationPage> {
    return this.#rest.get<NotificationPage>('/v1/notifications', {
      query: { unread: query.unreadOnly === undefined ? undefined : String(query.unreadOnly), limit: query.limit, before: query.before },
    });
  }

  /**
   * Marks notifications read (`ids`), or all of them (no argument); resolves with the unread count left.
   *
   * @example
   * client.on('notification', (n) => bell.increment(n));
   * bell.textContent = String(await client.markNotificationsRead());          // all → 0
   * await client.markNotificationsRead([notification.id]);                    // just one
   */
  async markNotificationsRead(ids?: readonly string[]): Promise<number> {
    return (await this.#rest.post<UnreadCountAnswer>('/v1/notifications/read', ids === undefined ? {} : { ids })).unreadCount;
  }

  /**
   * Changes your settings (only the fields given) and resolves with your updated user.
   * `hideLastSeen`: others see `lastSeenAt: null` for you. `notifyOnRead`: you get a notification when
   * someone reads your message.
   *
   * @example
   * const me = await client.updateSettings({ hideLastSeen: true });
   * console.log(me.settings); // { hideLastSeen: true, notifyOnRead: false }
   */
  async updateSettings(settings: Partial<UserSettings>): Promise<User> {
    return (await this.#rest.patch<UserAnswer>('/v1/me', { settings })).user;
  }

  /**
   * Marks a conversation read up to `seq`. Calls are coalesced per conversation (the highest seq wins)
   * and flushed after a short delay; failures are retried.
   *
   * @example
   * client.on('message', (m) => { if (isOnScreen(m.conversationId)) client.markRead(m.conversationId, m.seq); });
   */
  markRead(conversationId: string, seq: number): void {
    this.#reads.add(conversationId, seq);
  }

  /** Sends pending read receipts now. */
  flushReads(): Promise<void> {
    return this.#reads.flush();
  }

  /**
   * Your conversations, newest activity first, with your unread counts.
   *
   * @example
   * for (const c of await client.conversations()) console.log(c.id, c.unreadCount, c.lastMessage?.text);
   */
  async conversations(options: { limit?: number } = {}): Promise<Conversation[]> {
    const answer = await this.#rest.get<ConversationList>('/v1/conversations', { query: { limit: options.limit } });
    return answer.conversations;
  }

  /**
   * One conversation.
   *
   * @example
   * const c = await client.conversation(conversationId);
   */
  async conversation(conversationId: string): Promise<Conversation> {
    return (await this.#rest.get<ConversationAnswer>(`/v1/conversations/${encodeURIComponent(conversationId)}`)).conversation;
  }

  /**
   * Opens (or returns the existing) direct conversation with a user.
   *
   * @example
   * const { id } = await client.openDirect('6b0232eeb9f1617b58dee5fd');
   */
  async openDirect(userId: string): Promise<Conversation> {
    return (await this.#rest.post<ConversationAnswer>('/v1/conversations', { type: 'direct', userId })).conversation;
  }

  /**
   * Creates a group; you become its owner.
   *
   * @example
   * const group = await client.createGroup('team', [bobId, carolId]);
   */
  async createGroup(title: string, memberIds: readonly string[]): Promise<Conversation> {
    return (await this.#rest.post<ConversationAnswer>('/v1/conversations', { type: 'group', title, memberIds })).conversation;
  }

  /**
   * A page of history, ascending by seq. Your own messages carry `status`. It does not affect the
   * `message` events: de-duplicate by seq if you show both.
   *
   * @example
   * const latest = await client.history(c.id, { beforeSeq: c.lastSeq + 1, limit: 50 });
   * const older = await client.history(c.id, { beforeSeq: latest.messages[0].seq, limit: 50 });
   */
  history(conversationId: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.#rest.get<HistoryPage>(`/v1/conversations/${encodeURIComponent(conversationId)}/messages`, {
      query: { afterSeq: query.afterSeq, beforeSeq: query.beforeSeq, limit: query.limit },
    });
  }

  /**
   * Replaces the text of one of your messages.
   *
   * @example
   * const edited = await client.edit(message.id, 'hello, fixed');
   */
  async edit(messageId: string, text: string): Promise<Message> {
    if (this.#state === 'online') return (await this.#request('message:edit', { messageId, text })).message;
    return (await this.#rest.patch<MessageAnswer>(`/v1/messages/${encodeURIComponent(messageId)}`, { text })).message;
  }

  /**
   * Deletes a message for yourself (`me`, the default) or, if you sent it, for everyone.
   *
   * @example
   * await client.deleteMessage(message.id, 'everyone');
   */
  async deleteMessage(messageId: string, scope: 'me' | 'everyone' = 'me'): Promise<void> {
    if (this.#state === 'online') {
      await this.#request('message:delete', { messageId, scope });
      return;
    }
    await this.#rest.delete<object>(`/v1/messages/${encodeURIComponent(messageId)}`, { query: { scope } });
  }

  /**
   * Your own user (with email and `settings`).
   *
   * @example
   * const me = await client.me();
   */
  async me(): Promise<User> {
    return (await this.#rest.get<UserAnswer>('/v1/me')).user;
  }

  /**
   * Another user's public profile.
   *
   * @example
   * const { username } = await client.user(otherUserId);
   */
  async user(userId: string): Promise<User> {
    return (await this.#rest.get<UserAnswer>(`/v1/users/${encodeURIComponent(userId)}`)).user;
  }

  /** The highest seq emitted (or baselined) for a conversation; undefined while it is not tracked. */
  lastSeq(conversationId: string): number | undefined {
    return this.#stream.cursor(conversationId);
  }

  /** Outbox entries not yet stored by the server, oldest first. */
  pending(conversationId?: string): OutboxEntry[] {
    return this.#outbox.pending(conversationId);
  }

  /**
   * Disconnects and stops all retries. Pending read receipts are flushed first if the socket is up;
   * unsent messages stay in the outbox storage for the next client.
   *
   * @example
   * window.addEventListener('pagehide', () => void client.close());
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#state === 'online') {
      await withTimeout(Promise.all([this.#reads.flush(), this.#delivered.flush()]), Math.min(this.#ackTimeoutMs, 2000));
    }
    this.#typing.reset();
    this.#closed = true;
    this.#remoteTyping.clear(false);
    this.#connectWaker.wake();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reads.close();
    this.#delivered.close();
    this.#outbox.close();
    this.#fallbackWaker.wake();
    for (const waiter of this.#readyWaiters) waiter.reject(new ParleyClientError('closed', 'the client was closed'));
    this.#readyWaiters.clear();
    this.socket.disconnect();
    this.#setState('offline', true);
  }

  // ---- socket lifecycle ----

  #bindSocket(): void {
    const socket = this.socket;
    socket.on('connect', () => this.#onConnect());
    socket.on('disconnect', (reason) => this.#onDisconnect(reason));
    socket.on('connect_error', (err) => this.#onConnectError(err));
    socket.on('message:new', (message) => this.#ingest(message));
    // Everything goes through the stream's queue so it reaches the app after the messages it refers to.
    socket.on('message:updated', (message) => {
      // A scheduled message's own view (seq 0) is not part of the conversation's stream.
      if (message.status === 'scheduled' || message.status === 'withdrawn') {
        this.emit('scheduledUpdated', message);
        return;
      }
      void this.#stream.run(() => {
        if (this.#stream.isDelivered(message)) this.emit('messageUpdated', message);
      });
    });
    socket.on('receipt', (receipt) => void this.#stream.run(() => this.emit('receipt', receipt)));
    socket.on('conversation:updated', (conversation) => void this.#stream.run(() => this.emit('conversation', conversation)));
    // Ephemeral and not tied to a seq: straight to the app.
    socket.on('typing', (typing) => {
      if (typing.userId !== this.#userId) this.#remoteTyping.receive(typing);
    });
    socket.on('presence', (presence) => {
      if (this.#presence.applyEvent(presence)) this.emit('presence', presence);
    });
    socket.on('notification:new', (notification) => this.emit('notification', notification));
    socket.on('resync', () => {
      this.#catchUp();
      this.#resubscribePresence();
    });
  }

  #handshakeAuth(cb: (data: object) => void): void {
    const force = this.#forceRefreshNext;
    this.#forceRefreshNext = false;
    this.#token(force ? { forceRefresh: true } : undefined).then(
      (token) => cb({ token }),
      (err: unknown) => {
        this.#report(toClientError(err));
        // The server answers a missing token with `unauthorized`, which lands in #onConnectError.
        cb({});
      },
    );
  }

  async #token(options?: GetTokenOptions): Promise<string> {
    const token = await this.#getToken(options);
    const sub = decodeJwtPayload(token)?.sub;
    if (typeof sub === 'string') this.#userId = sub;
    return token;
  }

  #onConnect(): void {
    this.#connectFailures = 0;
    this.#manualAttempts = 0;
    this.#unauthorizedRetried = false;
    this.#setState('online');
    this.#fallbackWaker.wake();
    this.#catchUp();
    this.#reads.flushSoon();
    this.#delivered.flushSoon();
    this.#connectWaker.wake();
    // The server keeps presence subscriptions per socket: a new socket starts with none.
    this.#resubscribePresence();
  }

  #onDisconnect(reason: string): void {
    if (this.#closed) return;
    // The server ends our indicators with the socket, and we can no longer hear others' stops.
    this.#typing.reset();
    this.#remoteTyping.clear(true);
    this.#setState('connecting');
    // Socket.IO does not reconnect after a server-side disconnect (a restart, a logout); a revoked session
    // then fails the handshake with `unauthorized`, which is reported.
    if (reason === 'io server disconnect') this.#scheduleReconnect();
  }

  #onConnectError(err: Error): void {
    if (this.#closed) return;
    this.#connectFailures += 1;
    if (err.message === 'unauthorized') {
      this.#forceRefreshNext = true;
      if (!this.#unauthorizedRetried) {
        this.#unauthorizedRetried = true;
        this.#reconnectAfter(0);
        return;
      }
      this.#report(new ParleyClientError('unauthorized', 'the server refused the access token, even after a refresh'));
    }
    // A refusal by the server's middleware is final for Socket.IO; transport errors it retries itself.
    if (!this.socket.active) this.#scheduleReconnect();
    if (this.#connectFailures >= this.#fallbackAfter) this.#startFallback();
  }

  #scheduleReconnect(): void {
    if (this.#reconnectTimer !== undefined) return;
    this.#reconnectAfter(backoffDelay(this.#manualAttempts, this.#retry));
    this.#manualAttempts += 1;
  }

  #reconnectAfter(ms: number): void {
    if (this.#closed) return;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closed && !this.socket.connected && !this.socket.active) this.socket.connect();
    }, ms);
  }

  #setState(state: ConnectionState, force = false): void {
    if ((this.#closed && !force) || this.#state === state) return;
    this.#state = state;
    for (const resolve of [...this.#stateWaiters]) resolve();
    this.#stateWaiters.clear();
    if (state === 'online' || state === 'fallback') this.#outbox.wake();
    this.emit('connection', state);
  }

  async #transportReady(): Promise<void> {
    while (!this.#closed && this.#state !== 'online' && this.#state !== 'fallback') {
      await new Promise<void>((resolve) => this.#stateWaiters.add(resolve));
    }
  }

  /** Resolves once the socket is up (not the REST fallback), or the client closed. */
  async #whenOnline(): Promise<void> {
    while (!this.#closed && this.#state !== 'online') {
      await new Promise<void>((resolve) => this.#stateWaiters.add(resolve));
    }
  }

  // ---- catching up ----

  #ingest(message: Message): void {
    this.#stream.run(() => this.#stream.accept(message)).catch((err: unknown) => this.#catchUpLater(err));
  }

  #catchUp(): void {
    this.#stream.run(() => this.#syncOverSocket()).then(
      () => {
        this.#syncFailures = 0;
      },
      (err: unknown) => this.#catchUpLater(err),
    );
  }

  /** A gap fetch or sync failed: sync again later (the fallback loop polls by itself). */
  #catchUpLater(err: unknown): void {
    if (this.#closed) return;
    this.#report(toClientError(err));
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#state === 'online') this.#catchUp();
    }, backoffDelay(this.#syncFailures, this.#retry));
    this.#timers.add(timer);
    this.#syncFailures += 1;
  }

  async #syncOverSocket(): Promise<void> {
    if (!this.#stream.baselined) {
      // `limit: 1` keeps the answer small: only each conversation's lastSeq matters here.
      const answer = await this.#request('sync', { limit: 1 });
      this.#stream.setBaseline(answer.conversations.map((synced) => synced.conversation));
      this.#baselineSet();
      return;
    }
    for (let more = true; more; ) {
      const before = JSON.stringify(this.#stream.knownSeqs());
      const answer = await this.#request('sync', { conversations: this.#stream.knownSeqs() });
      more = false;
      for (const synced of answer.conversations) {
        this.emit('conversation', synced.conversation);
        if (this.#stream.acceptSynced(synced)) more = true;
      }
      // Defensive: never spin if the server keeps saying hasMore without giving anything new.
      if (JSON.stringify(this.#stream.knownSeqs()) === before) return;
    }
  }

  #baselineSet(): void {
    for (const waiter of this.#readyWaiters) waiter.resolve();
    this.#readyWaiters.clear();
  }

  #startFallback(): void {
    if (this.#fallbackRunning || this.#closed) return;
    this.#fallbackRunning = true;
    void this.#fallbackLoop().finally(() => {
      this.#fallbackRunning = false;
    });
  }

  /** While the socket is down: poll over REST; `fallback` if that works, `offline` if not. */
  async #fallbackLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed && !this.socket.connected) {
      try {
        await this.#stream.run(() => this.#pollOverRest());
        failures = 0;
        if (this.#closed || this.socket.connected) return;
        this.#setState('fallback');
        this.#reads.flushSoon();
        await this.#fallbackWaker.wait(this.#pollIntervalMs);
      } catch (err) {
        if (this.#closed || this.socket.connected) return;
        const error = toClientError(err);
        this.#report(error);
        this.#setState('offline');
        await this.#fallbackWaker.wait(backoffDelay(failures, this.#retry));
        failures += 1;
      }
    }
  }

  async #pollOverRest(): Promise<void> {
    const { conversations } = await this.#rest.get<ConversationList>('/v1/conversations', { query: { limit: this.#pageSize } });
    if (!this.#stream.baselined) {
      this.#stream.setBaseline(conversations);
      this.#baselineSet();
      return;
    }
    for (const conversation of conversations) {
      if (conversation.lastSeq <= (this.#stream.cursor(conversation.id) ?? 0)) continue;
      this.emit('conversation', conversation);
      await this.#stream.fill(conversation.id, undefined, conversation);
    }
  }

  // ---- outbound ----

  async #transmit(entry: OutboxEntry): Promise<Message> {
    const { conversationId, clientMsgId, text, meta } = entry;
    const body = { clientMsgId, text, ...(meta === undefined ? {} : { meta }) };
    const message =
      this.#state === 'online'
        ? (await this.#request('message:send', { conversationId, ...body })).message
        : (await this.#rest.post<MessageAnswer>(`/v1/conversations/${encodeURIComponent(conversationId)}/messages`, body)).message;
    // Over REST no `message:new` may reach this client; the stream drops it if the socket already did.
    this.#ingest(message);
    return message;
  }

  /** See `send` with `deliverAt`: one request at a time, retried until scheduled or too late. */
  async #sendScheduled(payload: SendMessagePayload & { deliverAt: string }): Promise<Message> {
    const deadline = Date.parse(payload.deliverAt);
    const { conversationId, ...body } = payload;
    for (let attempt = 0; ; attempt += 1) {
      await this.#transportReady();
      if (this.#closed) throw new ParleyClientError('closed', 'the client was closed before the message was scheduled');
      try {
        const message =
          this.#state === 'online'
            ? (await this.#request('message:send', payload)).message
            : (await this.#rest.post<MessageAnswer>(`/v1/conversations/${encodeURIComponent(conversationId)}/messages`, body)).message;
        // A `deliverAt` already past when the server got it means "send now": a normal message.
        if (message.seq > 0) this.#ingest(message);
        return message;
      } catch (err) {
        const error = toClientError(err);
        if (error.permanent || this.#closed) throw error;
        const wait = error.code === 'rate_limited' ? (error.retryAfterMs ?? backoffDelay(attempt, this.#retry)) : backoffDelay(attempt, this.#retry);
        // Retrying after its time would deliver it late (the server sends a past deliverAt at once).
        if (!(Date.now() + wait < deadline)) throw error;
        await this.#connectWaker.wait(wait);
      }
    }
  }

  /** Subscribes the current socket to `ids`; applies and emits what changed. */
  async #subscribeOnSocket(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += PRESENCE_BATCH) {
      const mark = this.#presence.mark();
      const answer = await this.#request('presence:subscribe', { userIds: ids.slice(i, i + PRESENCE_BATCH) });
      for (const presence of this.#presence.applySnapshot(answer.presence, mark)) this.emit('presence', presence);
    }
  }

  #resubscribePresence(): void {
    const ids = this.#presence.all();
    if (ids.length === 0) return;
    const socketId = this.socket.id;
    this.#subscribeOnSocket(ids).then(
      () => {
        this.#presenceFailures = 0;
      },
      (err: unknown) => {
        if (this.#closed) return;
        this.#report(toClientError(err));
        // A new socket subscribes again by itself; the same one, still up, retries after a backoff.
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          if (this.#state === 'online' && this.socket.id === socketId) this.#resubscribePresence();
        }, backoffDelay(this.#presenceFailures, this.#retry));
        this.#timers.add(timer);
        this.#presenceFailures += 1;
      },
    );
  }

  #emitTyping(conversationId: string, state: 'start' | 'stop'): boolean {
    if (this.#closed || this.#state !== 'online' || !this.socket.connected) return false;
    this.socket.emit('typing', { conversationId, state });
    return true;
  }

  async #sendRead(conversationId: string, seq: number): Promise<void> {
    if (this.#state === 'online') {
      await this.#request('receipt:read', { conversationId, seq });
      return;
    }
    await this.#rest.post<object>(`/v1/conversations/${encodeURIComponent(conversationId)}/read`, { seq });
  }

  async #sendDelivered(conversationId: string, seq: number): Promise<void> {
    // There is no REST route for delivered receipts: they wait for the socket.
    if (this.#state !== 'online') throw new ParleyClientError('network', 'delivered receipts need the socket');
    await this.#request('receipt:delivered', { conversationId, seq });
  }

  #deliver(message: Message): void {
    // Whoever sent it has stopped typing it.
    if (message.senderId !== null) this.#remoteTyping.messageFrom(message.conversationId, message.senderId);
    this.emit('message', message);
    if (this.#autoDelivered && message.senderId !== this.#userId) this.#delivered.add(message.conversationId, message.seq);
  }

  /** Emits an acknowledged event; resolves with the success answer, throws the error answer. */
  async #request<E extends AckedEvent>(event: E, payload: PayloadOf<E>): Promise<SuccessOf<E>> {
    // Socket.IO's typed emitWithAck cannot take a generic event name; the signature above restores the types.
    const emitter = this.socket.timeout(this.#ackTimeoutMs) as unknown as { emitWithAck(event: string, payload: unknown): Promise<AnswerOf<E>> };
    let answer: AnswerOf<E>;
    try {
      answer = await emitter.emitWithAck(event, payload);
    } catch (err) {
      throw new ParleyClientError('timeout', `no answer to ${event}`, { cause: err });
    }
    if (!answer.ok) throw ParleyClientError.fromBody(answer.error);
    return answer as SuccessOf<E>;
  }

  #report(error: ParleyClientError): void {
    // Transport failures are already visible as connection states; repeating them would be noise.
    if (this.#closed || error.code === 'network' || error.code === 'timeout' || error.code === 'closed') return;
    this.emit('error', error);
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
