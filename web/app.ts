/**
 * Parley's web app: plain DOM on top of the SDK. Sign in or register, see your conversations with unread
 * badges, start a direct chat by pasting someone's user id, and chat with sent / delivered / read ticks,
 * typing indicators and the other member's online dot or "last seen". A bell shows in-app notifications;
 * settings hold "hide my last seen" and "notify me when my messages are read".
 * Tokens live in localStorage (rotated by createTokenSession), unsent messages in a per-user outbox.
 */
import {
  type Conversation,
  createClient,
  createTokenSession,
  LocalStorageOutboxStorage,
  login,
  type Message,
  type MessageStatus,
  type Notification,
  type OutboxEntry,
  type ParleyClient,
  ParleyClientError,
  type ReceiptEvent,
  register,
  type TokenSession,
  type User,
  type UserSettings,
} from '../client-sdk/src/index.js';

const SESSION_KEY = 'parley.session';
const HISTORY_PAGE = 50;
const INBOX_PAGE = 30;

interface StoredSession {
  user: User;
  accessToken: string;
  refreshToken: string;
}

interface ConversationView {
  conversation: Conversation;
  /** Messages on screen, by seq. */
  readonly messages: Map<number, Message>;
  /** Each other member's cursors as seen in `receipt` events. */
  readonly peers: Map<string, { delivered: number; read: number }>;
  /** Sends that failed for good, shown until dismissed. */
  readonly failed: Map<string, { entry: OutboxEntry; code: string }>;
  historyLoaded: boolean;
}

/** Everything one signed-in user's screen holds; dropped at sign-out. */
interface ChatState {
  readonly me: User;
  readonly client: ParleyClient;
  readonly session: TokenSession;
  readonly views: Map<string, ConversationView>;
  readonly users: Map<string, User>;
  readonly loadingUsers: Set<string>;
  /** Users whose presence we asked for (the other member of each direct conversation). */
  readonly watched: Set<string>;
  /** Newest first, as far as loaded. */
  notifications: Notification[];
  unreadNotifications: number;
  settings: UserSettings | undefined;
  /** Re-renders relative times ("last seen 5 min ago"). */
  readonly ticker: ReturnType<typeof setInterval>;
  selected: string | undefined;
}

const STATUS_RANK: Readonly<Record<MessageStatus, number>> = { scheduled: 0, withdrawn: 0, sent: 1, delivered: 2, read: 3 };
const TICKS: Readonly<Record<MessageStatus, string>> = { scheduled: '🕓', withdrawn: '', sent: '✓', delivered: '✓✓', read: '✓✓' };

// ---- DOM ----

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const dom = {
  authView: byId('auth-view'),
  authForm: byId<HTMLFormElement>('auth-form'),
  authUsername: byId<HTMLInputElement>('auth-username'),
  authPassword: byId<HTMLInputElement>('auth-password'),
  authError: byId('auth-error'),
  chatView: byId('chat-view'),
  connection: byId('connection'),
  meName: byId('me-name'),
  meId: byId('me-id'),
  copyId: byId<HTMLButtonElement>('copy-id'),
  signOut: byId<HTMLButtonElement>('sign-out'),
  newChat: byId<HTMLFormElement>('new-chat'),
  newChatInput: byId<HTMLInputElement>('new-chat-input'),
  newChatError: byId('new-chat-error'),
  list: byId<HTMLUListElement>('conversation-list'),
  noConversations: byId('no-conversations'),
  back: byId<HTMLButtonElement>('back'),
  paneTitle: byId('pane-title'),
  panePresence: byId('pane-presence'),
  messages: byId<HTMLOListElement>('messages'),
  typing: byId('typing'),
  bell: byId<HTMLButtonElement>('bell'),
  bellCount: byId('bell-count'),
  inbox: byId('inbox'),
  inboxList: byId<HTMLUListElement>('inbox-list'),
  inboxEmpty: byId('inbox-empty'),
  markAllRead: byId<HTMLButtonElement>('mark-all-read'),
  settingsButton: byId<HTMLButtonElement>('settings-button'),
  settings: byId<HTMLFormElement>('settings'),
  settingHideLastSeen: byId<HTMLInputElement>('setting-hide-last-seen'),
  settingNotifyOnRead: byId<HTMLInputElement>('setting-notify-on-read'),
  settingsError: byId('settings-error'),
  composer: byId<HTMLFormElement>('composer'),
  composerInput: byId<HTMLInputElement>('composer-input'),
};

function showError(target: HTMLElement, message: string | undefined): void {
  target.textContent = message ?? '';
  target.hidden = !message;
}

function describeError(err: unknown): string {
  if (!(err instanceof ParleyClientError)) return 'Something went wrong. Try again.';
  switch (err.code) {
    case 'unauthorized':
      return 'Wrong username or password.';
    case 'conflict':
      return 'That username is taken.';
    case 'invalid_payload':
      return 'Check the fields: usernames are 3–32 letters, digits, _ . -; passwords at least 8 characters.';
    case 'not_found':
      return 'No user with that id.';
    case 'blocked':
      return 'This user blocked you.';
    case 'network':
    case 'timeout':
    case 'unavailable':
      return 'The server is not reachable right now.';
    default:
      return err.message;
  }
}

// ---- session ----

function loadSession(): StoredSession | undefined {
  try {
    const parsed = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as StoredSession | null;
    return parsed && typeof parsed.accessToken === 'string' && typeof parsed.refreshToken === 'string' && parsed.user ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function saveSession(session: StoredSession): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

// ---- auth screen ----

function showAuth(message?: string): void {
  dom.chatView.hidden = true;
  dom.authView.hidden = false;
  showError(dom.authError, message);
  dom.authUsername.focus();
}

dom.authForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const mode = (event.submitter as HTMLButtonElement | null)?.value === 'register' ? 'register' : 'login';
  const credentials = { url: location.origin, username: dom.authUsername.value.trim(), password: dom.authPassword.value };
  const buttons = dom.authForm.querySelectorAll('button');
  buttons.forEach((b) => (b.disabled = true));
  showError(dom.authError, undefined);
  (mode === 'register' ? register(credentials) : login(credentials))
    .then((auth) => {
      dom.authPassword.value = '';
      const stored = { user: auth.user, accessToken: auth.accessToken, refreshToken: auth.refreshToken };
      saveSession(stored);
      startChat(stored);
    })
    .catch((err: unknown) => showError(dom.authError, describeError(err)))
    .finally(() => buttons.forEach((b) => (b.disabled = false)));
});

// ---- chat screen ----

/** Serialises token refreshes across this user's tabs (Web Locks; every tab runs it alone without them). */
function withRefreshLock<T>(task: () => Promise<T>): Promise<T> {
  const locks = (navigator as { locks?: LockManager }).locks;
  if (!locks) return task();
  return locks.request('parley.refresh', () => task()) as Promise<T>;
}

let state: ChatState | undefined;

function startChat(stored: StoredSession): void {
  const session = createTokenSession({
    url: location.origin,
    accessToken: stored.accessToken,
    refreshToken: stored.refreshToken,
    onChange: (next) => saveSession({ user: next.user, accessToken: next.accessToken, refreshToken: next.refreshToken }),
    // Other tabs of this user share the session: adopt their rotations, and never refresh at the same
    // time (a refresh token presented twice revokes the session).
    load: () => {
      const latest = loadSession();
      return latest && latest.user.id === stored.user.id ? latest : undefined;
    },
    lock: withRefreshLock,
  });
  const client = createClient({
    url: location.origin,
    getToken: session.getToken,
    storage: new LocalStorageOutboxStorage({ key: `parley.outbox.${stored.user.id}` }),
  });
  const chat: ChatState = {
    me: stored.user,
    client,
    session,
    views: new Map(),
    users: new Map(),
    loadingUsers: new Set(),
    watched: new Set(),
    notifications: [],
    unreadNotifications: 0,
    settings: undefined,
    ticker: setInterval(() => {
      if (state === chat) renderPresence(chat);
    }, 30_000),
    selected: undefined,
  };
  state = chat;

  dom.authView.hidden = true;
  dom.chatView.hidden = false;
  dom.meName.textContent = stored.user.displayName ?? stored.user.username;
  dom.meId.textContent = stored.user.id;
  renderConnection(client.state);
  renderList(chat);
  renderPane(chat);
  renderBell(chat);
  renderSettings(chat);

  let wasOnline = false;
  client.on('connection', (connection) => {
    renderConnection(connection);
    // Notifications are pushed only to connected sockets: after a gap, the inbox is the truth.
    if (connection === 'online' && wasOnline) void loadInbox(chat);
    if (connection === 'online') wasOnline = true;
  });
  client.on('typing', (t) => {
    if (chat.selected === t.conversationId) renderTyping(chat);
    renderList(chat);
  });
  client.on('presence', () => {
    renderPresence(chat);
    renderList(chat);
  });
  client.on('notification', (n) => onNotification(chat, n));
  client.on('message', (m) => onMessage(chat, m));
  client.on('messageUpdated', (m) => onMessageUpdated(chat, m));
  client.on('receipt', (r) => onReceipt(chat, r));
  client.on('conversation', (c) => {
    upsertConversation(chat, c);
    renderList(chat);
    if (chat.selected === c.id) renderPane(chat);
  });
  client.on('outbox', (event) => {
    if (event.type === 'failed') {
      viewFor(chat, event.entry.conversationId)?.failed.set(event.entry.clientMsgId, { entry: event.entry, code: event.error.code });
    }
    if (chat.selected === event.entry.conversationId) renderPane(chat);
  });
  client.on('error', (err) => {
    if (err.code === 'unauthorized') void signOut(chat, 'Your session has ended. Please sign in again.');
  });

  // After ready(), every new message arrives as an event; the list read below may overlap (same seqs).
  client
    .ready()
    .then(() => client.conversations())
    .then((list) => {
      for (const c of list) upsertConversation(chat, c);
      renderList(chat);
      return Promise.all([loadInbox(chat), loadSettings(chat)]);
    })
    .catch((err: unknown) => {
      if (err instanceof ParleyClientError && err.code === 'unauthorized') void signOut(chat, 'Your session has ended. Please sign in again.');
    });
}

async function signOut(chat: ChatState, message?: string): Promise<void> {
  if (state !== chat) return;
  state = undefined;
  clearInterval(chat.ticker);
  localStorage.removeItem(SESSION_KEY);
  await chat.client.close();
  await chat.session.logout().catch(() => undefined);
  dom.list.replaceChildren();
  dom.messages.replaceChildren();
  dom.inboxList.replaceChildren();
  dom.bellCount.hidden = true;
  dom.typing.hidden = true;
  dom.panePresence.hidden = true;
  closeDropdowns();
  showAuth(message);
}

function renderConnection(connection: string): void {
  dom.connection.textContent = connection === 'fallback' ? 'online (fallback)' : connection;
  dom.connection.dataset['state'] = connection;
}

function viewFor(chat: ChatState, conversationId: string): ConversationView | undefined {
  return chat.views.get(conversationId);
}

function upsertConversation(chat: ChatState, conversation: Conversation): ConversationView {
  const existing = chat.views.get(conversation.id);
  if (existing) {
    // Keep what we learnt from events if the server's copy is older (it may have been read earlier).
    const lastMessage = newer(existing.conversation.lastMessage, conversation.lastMessage);
    const readSeq = Math.max(existing.conversation.readSeq, conversation.readSeq);
    const lastSeq = Math.max(existing.conversation.lastSeq, conversation.lastSeq);
    existing.conversation = { ...conversation, lastSeq, readSeq, unreadCount: Math.max(0, lastSeq - readSeq), ...(lastMessage ? { lastMessage } : {}) };
    return existing;
  }
  const view: ConversationView = { conversation, messages: new Map(), peers: new Map(), failed: new Map(), historyLoaded: false };
  chat.views.set(conversation.id, view);
  watchPresence(chat, conversation);
  return view;
}

/** The other member of a direct conversation (undefined for groups). */
function peerOf(chat: ChatState, c: Conversation): string | undefined {
  return c.type === 'direct' ? c.members.find((m) => m.userId !== chat.me.id)?.userId : undefined;
}

let presenceBatch: string[] | undefined;

/** Subscribes to the other member of a direct conversation; calls in one task become one request. */
function watchPresence(chat: ChatState, c: Conversation): void {
  const peer = peerOf(chat, c);
  if (!peer || chat.watched.has(peer)) return;
  chat.watched.add(peer);
  if (presenceBatch) {
    presenceBatch.push(peer);
    return;
  }
  const batch = [peer];
  presenceBatch = batch;
  queueMicrotask(() => {
    presenceBatch = undefined;
    // The SDK emits `presence` for the answer and renews the subscription after reconnects.
    chat.client.subscribePresence(batch).catch(() => undefined);
  });
}

function newer(a: Message | undefined, b: Message | undefined): Message | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.seq >= a.seq ? b : a;
}

function onMessage(chat: ChatState, message: Message): void {
  const view = viewFor(chat, message.conversationId);
  if (!view) {
    // A conversation we have not listed yet (e.g. created while the list was loading).
    chat.client
      .conversation(message.conversationId)
      .then((c) => {
        upsertConversation(chat, c);
        onMessage(chat, message);
      })
      .catch(() => undefined);
    return;
  }
  mergeMessage(view, message);
  const c = view.conversation;
  const lastSeq = Math.max(c.lastSeq, message.seq);
  const readSeq = message.senderId === chat.me.id ? Math.max(c.readSeq, message.seq) : c.readSeq;
  view.conversation = { ...c, lastSeq, readSeq, unreadCount: Math.max(0, lastSeq - readSeq), lastMessage: newer(c.lastMessage, message) ?? message, updatedAt: message.createdAt };
  if (chat.selected === message.conversationId) {
    markReadIfVisible(chat);
    renderPane(chat);
  }
  renderList(chat);
}

function onMessageUpdated(chat: ChatState, message: Message): void {
  const view = viewFor(chat, message.conversationId);
  if (!view || !view.messages.has(message.seq)) return;
  mergeMessage(view, message);
  if (chat.selected === message.conversationId) renderPane(chat);
}

function onReceipt(chat: ChatState, receipt: ReceiptEvent): void {
  const view = viewFor(chat, receipt.conversationId);
  if (!view) return;
  if (receipt.userId === chat.me.id) {
    // Read on another device of ours.
    const readSeq = Math.max(view.conversation.readSeq, receipt.readSeq ?? 0);
    view.conversation = { ...view.conversation, readSeq, unreadCount: Math.max(0, view.conversation.lastSeq - readSeq) };
    renderList(chat);
    return;
  }
  const peer = view.peers.get(receipt.userId) ?? { delivered: 0, read: 0 };
  const read = Math.max(peer.read, receipt.readSeq ?? 0);
  view.peers.set(receipt.userId, { read, delivered: Math.max(peer.delivered, receipt.deliveredSeq ?? 0, read) });
  if (chat.selected === receipt.conversationId) renderPane(chat);
}

/** Keeps the richer copy: history carries `status`, events do not. */
function mergeMessage(view: ConversationView, message: Message): void {
  const old = view.messages.get(message.seq);
  const status = message.status ?? old?.status;
  view.messages.set(message.seq, { ...old, ...message, ...(status ? { status } : {}) });
}

/** Status of one of my messages: the server's (from history) raised by the receipts seen since. */
function statusOf(chat: ChatState, view: ConversationView, message: Message): MessageStatus {
  const base: MessageStatus = message.status ?? 'sent';
  const others = view.conversation.members.filter((m) => m.userId !== chat.me.id);
  if (others.length === 0) return base;
  const cursors = others.map((m) => view.peers.get(m.userId));
  const derived: MessageStatus = cursors.every((c) => c !== undefined && c.read >= message.seq)
    ? 'read'
    : cursors.some((c) => c !== undefined && c.delivered >= message.seq)
      ? 'delivered'
      : 'sent';
  return STATUS_RANK[derived] > STATUS_RANK[base] ? derived : base;
}

function markReadIfVisible(chat: ChatState): void {
  const view = chat.selected ? viewFor(chat, chat.selected) : undefined;
  if (!view || document.visibilityState !== 'visible') return;
  const c = view.conversation;
  if (c.lastSeq <= c.readSeq) return;
  chat.client.markRead(c.id, c.lastSeq);
  view.conversation = { ...c, readSeq: c.lastSeq, unreadCount: 0 };
  renderList(chat);
}

// Signed out in another tab: follow.
window.addEventListener('storage', (event) => {
  if (event.key === SESSION_KEY && event.newValue === null && state) void signOut(state);
});

document.addEventListener('visibilitychange', () => {
  if (state) markReadIfVisible(state);
});

async function select(chat: ChatState, conversationId: string): Promise<void> {
  if (chat.selected && chat.selected !== conversationId) chat.client.stopTyping(chat.selected);
  chat.selected = conversationId;
  document.body.classList.add('show-pane');
  renderList(chat);
  renderPane(chat);
  dom.composerInput.focus();
  const view = viewFor(chat, conversationId);
  if (!view) return;
  if (!view.historyLoaded && view.conversation.lastSeq > 0) {
    const page = await chat.client.history(conversationId, { beforeSeq: view.conversation.lastSeq + 1, limit: HISTORY_PAGE }).catch(() => undefined);
    if (page) {
      for (const m of page.messages) mergeMessage(view, m);
      view.historyLoaded = true;
    }
  } else {
    view.historyLoaded = true;
  }
  if (chat.selected !== conversationId) return;
  markReadIfVisible(chat);
  renderPane(chat);
}

// ---- rendering ----

function titleOf(chat: ChatState, c: Conversation): string {
  if (c.type === 'group') return c.title ?? 'Group';
  const otherId = peerOf(chat, c);
  return otherId ? (nameOf(chat, otherId) ?? '…') : 'Direct chat';
}

/** A user's display name, or undefined while it loads (everything re-renders when it arrives). */
function nameOf(chat: ChatState, userId: string): string | undefined {
  const user = chat.users.get(userId);
  if (user) return user.displayName ?? user.username;
  if (!chat.loadingUsers.has(userId)) {
    chat.loadingUsers.add(userId);
    chat.client
      .user(userId)
      .then((u) => {
        chat.users.set(u.id, u);
        if (state === chat) {
          renderList(chat);
          renderPane(chat);
        }
      })
      .catch(() => chat.loadingUsers.delete(userId));
  }
  return undefined;
}

function activityOf(c: Conversation): string {
  return c.lastMessage?.createdAt ?? c.updatedAt;
}

function renderList(chat: ChatState): void {
  const views = [...chat.views.values()].sort((a, b) => activityOf(b.conversation).localeCompare(activityOf(a.conversation)));
  dom.noConversations.hidden = views.length > 0;
  dom.list.replaceChildren(
    ...views.map(({ conversation: c }) => {
      const item = el('li', 'conversation');
      item.dataset['testid'] = 'conversation-item';
      item.dataset['conversationId'] = c.id;
      if (c.id === chat.selected) item.classList.add('selected');
      const button = el('button', 'conversation-button');
      button.type = 'button';
      button.addEventListener('click', () => void select(chat, c.id));
      const top = el('span', 'conversation-top');
      const peer = peerOf(chat, c);
      if (peer) {
        const dot = el('span', `presence-dot${chat.client.presenceOf(peer)?.online ? ' online' : ''}`);
        dot.dataset['testid'] = 'presence-dot';
        dot.setAttribute('aria-hidden', 'true');
        top.append(dot);
      }
      top.append(el('span', 'conversation-title', titleOf(chat, c)));
      if (c.lastMessage) top.append(el('time', 'conversation-time', formatTime(c.lastMessage.createdAt)));
      const bottom = el('span', 'conversation-bottom');
      const typing = chat.client.typingUsers(c.id).length > 0;
      const preview = typing
        ? 'typing…'
        : c.lastMessage
          ? `${c.lastMessage.senderId === chat.me.id ? 'You: ' : ''}${c.lastMessage.text || 'Message deleted'}`
          : 'No messages yet';
      bottom.append(el('span', `conversation-preview${typing ? ' typing-preview' : ''}`, preview));
      if (c.unreadCount > 0 && c.id !== chat.selected) {
        const badge = el('span', 'badge', String(c.unreadCount));
        badge.dataset['testid'] = 'unread-badge';
        badge.setAttribute('aria-label', `${c.unreadCount} unread`);
        bottom.append(badge);
      }
      button.append(top, bottom);
      item.append(button);
      return item;
    }),
  );
}

function renderPane(chat: ChatState): void {
  const view = chat.selected ? viewFor(chat, chat.selected) : undefined;
  dom.composer.hidden = !view;
  renderTyping(chat);
  renderPresence(chat);
  if (!view) {
    dom.paneTitle.textContent = 'Select a conversation';
    dom.messages.replaceChildren();
    return;
  }
  dom.paneTitle.textContent = titleOf(chat, view.conversation);
  const stick = dom.messages.scrollHeight - dom.messages.scrollTop - dom.messages.clientHeight < 40;

  const rows: HTMLLIElement[] = [...view.messages.values()].sort((a, b) => a.seq - b.seq).map((m) => renderMessage(chat, view, m));
  const stored = new Set([...view.messages.values()].map((m) => m.clientMsgId));
  for (const entry of chat.client.pending(view.conversation.id)) {
    if (!stored.has(entry.clientMsgId)) rows.push(renderPending(entry, 'sending'));
  }
  for (const [clientMsgId, failure] of view.failed) {
    const row = renderPending(failure.entry, `failed (${failure.code})`);
    row.classList.add('failed');
    row.title = 'Click to dismiss';
    row.addEventListener('click', () => {
      view.failed.delete(clientMsgId);
      renderPane(chat);
    });
    rows.push(row);
  }
  dom.messages.replaceChildren(...rows);
  if (stick || rows.length < 20) dom.messages.scrollTop = dom.messages.scrollHeight;
}

/** "Ann is typing…" under the selected conversation's messages. */
function renderTyping(chat: ChatState): void {
  const ids = chat.selected ? chat.client.typingUsers(chat.selected) : [];
  dom.typing.hidden = ids.length === 0;
  if (ids.length === 0) {
    dom.typing.textContent = '';
    return;
  }
  const names = ids.map((id) => nameOf(chat, id) ?? 'Someone');
  dom.typing.textContent =
    names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : `${names.length} people are typing…`;
}

/** The online dot or "last seen …" of the other member, in the selected direct conversation's header. */
function renderPresence(chat: ChatState): void {
  const view = chat.selected ? viewFor(chat, chat.selected) : undefined;
  const peer = view ? peerOf(chat, view.conversation) : undefined;
  const presence = peer ? chat.client.presenceOf(peer) : undefined;
  dom.panePresence.hidden = !presence;
  if (!presence) return;
  dom.panePresence.dataset['online'] = String(presence.online);
  const dot = el('span', `presence-dot${presence.online ? ' online' : ''}`);
  dot.setAttribute('aria-hidden', 'true');
  const text = presence.online ? 'online' : presence.lastSeenAt ? `last seen ${formatLastSeen(presence.lastSeenAt)}` : 'offline';
  const label = el('span', 'presence-text', text);
  label.dataset['testid'] = 'presence-text';
  if (presence.lastSeenAt) label.title = new Date(presence.lastSeenAt).toLocaleString();
  dom.panePresence.replaceChildren(dot, label);
}

function formatLastSeen(iso: string): string {
  const date = new Date(iso);
  const seconds = (Date.now() - date.getTime()) / 1000;
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) return `today at ${time}`;
  if (date.toDateString() === new Date(Date.now() - 86_400_000).toDateString()) return `yesterday at ${time}`;
  return `on ${date.toLocaleDateString([], { month: 'short', day: 'numeric' })}`;
}

function renderMessage(chat: ChatState, view: ConversationView, m: Message): HTMLLIElement {
  const mine = m.senderId === chat.me.id;
  const row = el('li', `message ${mine ? 'mine' : 'theirs'}`);
  row.dataset['testid'] = 'message';
  row.dataset['seq'] = String(m.seq);
  row.dataset['mine'] = String(mine);
  if (view.conversation.type === 'group' && !mine && m.senderId) {
    const sender = chat.users.get(m.senderId);
    row.append(el('span', 'sender', sender ? (sender.displayName ?? sender.username) : m.senderId.slice(-6)));
  }
  const bubble = el('div', 'bubble');
  bubble.append(el('span', 'text', m.deletedAt ? 'Message deleted' : m.text));
  const meta = el('span', 'meta');
  meta.append(el('time', '', formatTime(m.createdAt)));
  if (m.editedAt) meta.append(el('span', 'edited', 'edited'));
  if (mine) {
    const status = statusOf(chat, view, m);
    row.dataset['status'] = status;
    const ticks = el('span', `ticks ${status}`, TICKS[status]);
    ticks.dataset['testid'] = 'ticks';
    ticks.setAttribute('aria-label', status);
    ticks.title = status;
    meta.append(ticks);
  }
  bubble.append(meta);
  row.append(bubble);
  return row;
}

function renderPending(entry: OutboxEntry, label: string): HTMLLIElement {
  const row = el('li', 'message mine pending');
  row.dataset['testid'] = 'pending-message';
  const bubble = el('div', 'bubble');
  bubble.append(el('span', 'text', entry.text));
  const meta = el('span', 'meta');
  meta.append(el('span', 'ticks', label === 'sending' ? '🕓' : '!'), el('span', '', label));
  bubble.append(meta);
  row.append(bubble);
  return row;
}

function formatTime(iso: string): string {
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

// ---- notifications ----

/** Reloads the newest page and the unread count; notifications pushed meanwhile are kept. */
async function loadInbox(chat: ChatState): Promise<void> {
  const pushedBefore = new Set(chat.notifications.map((n) => n.id));
  const page = await chat.client.notifications({ limit: INBOX_PAGE }).catch(() => undefined);
  if (!page || state !== chat) return;
  const listed = new Set(page.notifications.map((n) => n.id));
  // Pushed while the request was out and not in its answer: newer than the answer.
  const newer = chat.notifications.filter((n) => !pushedBefore.has(n.id) && !listed.has(n.id));
  chat.notifications = [...newer, ...page.notifications];
  chat.unreadNotifications = page.unreadCount + newer.filter((n) => !n.read).length;
  renderBell(chat);
}

function onNotification(chat: ChatState, notification: Notification): void {
  if (chat.notifications.some((n) => n.id === notification.id)) return;
  chat.notifications = [notification, ...chat.notifications].slice(0, 100);
  if (!notification.read) chat.unreadNotifications += 1;
  renderBell(chat);
}

function renderBell(chat: ChatState): void {
  const count = chat.unreadNotifications;
  dom.bellCount.hidden = count === 0;
  dom.bellCount.textContent = count > 99 ? '99+' : String(count);
  dom.bell.setAttribute('aria-label', count > 0 ? `Notifications, ${count} unread` : 'Notifications');
  dom.markAllRead.disabled = count === 0;
  dom.inboxEmpty.hidden = chat.notifications.length > 0;
  dom.inboxList.replaceChildren(
    ...chat.notifications.map((n) => {
      const item = el('li', `notification${n.read ? '' : ' unread'}`);
      item.dataset['testid'] = 'notification';
      item.dataset['type'] = n.type;
      const button = el('button', 'notification-button');
      button.type = 'button';
      button.append(el('span', 'notification-title', n.title ?? n.type), el('time', 'notification-time', formatTime(n.createdAt)));
      if (n.body) button.append(el('span', 'notification-body', n.body));
      button.addEventListener('click', () => void openNotification(chat, n));
      item.append(button);
      return item;
    }),
  );
}

/** Marks one notification read and, if it is about a conversation, opens it. */
async function openNotification(chat: ChatState, notification: Notification): Promise<void> {
  closeDropdowns();
  const conversationId = notification.data['conversationId'];
  if (typeof conversationId === 'string' && viewFor(chat, conversationId)) void select(chat, conversationId);
  if (notification.read) return;
  const count = await chat.client.markNotificationsRead([notification.id]).catch(() => undefined);
  if (count === undefined || state !== chat) return;
  chat.notifications = chat.notifications.map((n) => (n.id === notification.id ? { ...n, read: true } : n));
  chat.unreadNotifications = count;
  renderBell(chat);
}

async function markAllNotificationsRead(chat: ChatState): Promise<void> {
  const count = await chat.client.markNotificationsRead().catch(() => undefined);
  if (count === undefined || state !== chat) return;
  chat.notifications = chat.notifications.map((n) => ({ ...n, read: true }));
  chat.unreadNotifications = count;
  renderBell(chat);
}

// ---- settings ----

async function loadSettings(chat: ChatState): Promise<void> {
  const me = await chat.client.me().catch(() => undefined);
  if (!me || state !== chat) return;
  chat.settings = me.settings;
  renderSettings(chat);
}

function renderSettings(chat: ChatState): void {
  const settings = chat.settings;
  const saving = dom.settings.dataset['state'] === 'saving';
  dom.settingHideLastSeen.checked = settings?.hideLastSeen ?? false;
  dom.settingNotifyOnRead.checked = settings?.notifyOnRead ?? false;
  dom.settingHideLastSeen.disabled = !settings || saving;
  dom.settingNotifyOnRead.disabled = !settings || saving;
}

async function saveSetting(chat: ChatState, change: Partial<UserSettings>): Promise<void> {
  dom.settings.dataset['state'] = 'saving';
  showError(dom.settingsError, undefined);
  renderSettings(chat);
  try {
    const me = await chat.client.updateSettings(change);
    if (state !== chat) return;
    chat.settings = me.settings;
    dom.settings.dataset['state'] = 'saved';
  } catch (err) {
    dom.settings.dataset['state'] = 'error';
    showError(dom.settingsError, describeError(err));
  }
  renderSettings(chat);
}

// ---- dropdowns ----

function toggleDropdown(button: HTMLButtonElement, panel: HTMLElement): void {
  const open = panel.hidden;
  closeDropdowns();
  panel.hidden = !open;
  button.setAttribute('aria-expanded', String(open));
}

function closeDropdowns(): void {
  for (const [button, panel] of [
    [dom.bell, dom.inbox],
    [dom.settingsButton, dom.settings],
  ] as const) {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
  }
}

// ---- controls ----

dom.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const chat = state;
  const text = dom.composerInput.value.trim();
  if (!chat || !chat.selected || !text) return;
  dom.composerInput.value = '';
  // Failures arrive as `outbox` events and are shown in the pane. Sending also ends our typing indicator.
  chat.client.send(chat.selected, text).catch(() => undefined);
  renderPane(chat);
});

dom.composerInput.addEventListener('input', () => {
  const chat = state;
  if (!chat?.selected) return;
  if (dom.composerInput.value.trim()) chat.client.typing(chat.selected);
  else chat.client.stopTyping(chat.selected);
});

dom.bell.addEventListener('click', () => {
  toggleDropdown(dom.bell, dom.inbox);
  // Opening the inbox refreshes it (it may hold more than the live events brought).
  if (!dom.inbox.hidden && state) void loadInbox(state);
});

dom.markAllRead.addEventListener('click', () => {
  if (state) void markAllNotificationsRead(state);
});

dom.settingsButton.addEventListener('click', () => toggleDropdown(dom.settingsButton, dom.settings));
dom.settings.addEventListener('submit', (event) => event.preventDefault());
dom.settingHideLastSeen.addEventListener('change', () => {
  if (state) void saveSetting(state, { hideLastSeen: dom.settingHideLastSeen.checked });
});
dom.settingNotifyOnRead.addEventListener('change', () => {
  if (state) void saveSetting(state, { notifyOnRead: dom.settingNotifyOnRead.checked });
});

document.addEventListener('click', (event) => {
  if (!(event.target instanceof Element) || !event.target.closest('.menu')) closeDropdowns();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') closeDropdowns();
});

dom.newChat.addEventListener('submit', (event) => {
  event.preventDefault();
  const chat = state;
  const userId = dom.newChatInput.value.trim();
  if (!chat || !userId) return;
  showError(dom.newChatError, undefined);
  if (userId === chat.me.id) {
    showError(dom.newChatError, 'That is your own id: paste someone else’s.');
    return;
  }
  chat.client
    .openDirect(userId)
    .then((c) => {
      upsertConversation(chat, c);
      dom.newChatInput.value = '';
      return select(chat, c.id);
    })
    .catch((err: unknown) => showError(dom.newChatError, describeError(err)));
});

dom.copyId.addEventListener('click', () => {
  const id = dom.meId.textContent ?? '';
  navigator.clipboard?.writeText(id).then(
    () => {
      dom.copyId.textContent = 'Copied';
      setTimeout(() => (dom.copyId.textContent = 'Copy'), 1500);
    },
    () => undefined,
  );
});

dom.signOut.addEventListener('click', () => {
  if (state) void signOut(state);
});

dom.back.addEventListener('click', () => {
  document.body.classList.remove('show-pane');
  if (state) {
    if (state.selected) state.client.stopTyping(state.selected);
    state.selected = undefined;
    renderList(state);
    renderPane(state);
  }
});

// ---- boot ----

const existing = loadSession();
if (existing) startChat(existing);
else showAuth();
