import type { UserService } from '../users/index.js';
import type { ConversationService } from './conversation-service.js';
import type { Realtime } from './realtime.js';

export interface TypingOptions {
  /** A start without a stop ends by itself after this. */
  readonly ttlMs: number;
  /** Starts closer together than this are not forwarded (the indicator is still on). */
  readonly throttleMs: number;
}

/**
 * Typing indicators: ephemeral (volatile emits, never stored), throttled per user and conversation,
 * and ended by a timer when no stop arrives. They go only to members who have not blocked the typist
 * and whom the typist has not blocked. Timers live on the node that saw the start.
 */
export class TypingService {
  // Mutable on purpose: per (user, conversation), the running expiry timer and the last forwarded start.
  private readonly active = new Map<string, { timer: NodeJS.Timeout; lastStartAt: number }>();

  constructor(
    private readonly conversations: ConversationService,
    private readonly users: UserService,
    private readonly realtime: Realtime,
    private readonly options: TypingOptions,
  ) {}

  async typing(userId: string, conversationId: string, state: 'start' | 'stop'): Promise<void> {
    const conversation = await this.conversations.requireMember(userId, conversationId);
    const others = conversation.members.map((m) => m.userId).filter((id) => id !== userId);
    const key = `${userId}|${conversationId}`;
    const current = this.active.get(key);
    if (state === 'stop') {
      if (!current) return;
      clearTimeout(current.timer);
      this.active.delete(key);
      await this.send(userId, conversationId, others, 'stop');
      return;
    }
    const now = Date.now();
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => {
      this.active.delete(key);
      void this.send(userId, conversationId, others, 'stop');
    }, this.options.ttlMs);
    timer.unref();
    const forward = !current || now - current.lastStartAt >= this.options.throttleMs;
    this.active.set(key, { timer, lastStartAt: forward ? now : (current?.lastStartAt ?? now) });
    if (forward) await this.send(userId, conversationId, others, 'start');
  }

  /** Ends every indicator of a user's that this node runs (their socket went away). */
  async stopAll(userId: string): Promise<void> {
    for (const key of [...this.active.keys()]) {
      if (!key.startsWith(`${userId}|`)) continue;
      await this.typing(userId, key.slice(userId.length + 1), 'stop').catch(() => undefined);
    }
  }

  private async send(userId: string, conversationId: string, others: readonly string[], state: 'start' | 'stop'): Promise<void> {
    const recipients = await this.users.notBlockedWith(userId, others);
    this.realtime.toUsersVolatile(recipients, 'typing', { conversationId, userId, state });
  }
}
