import type { Presence } from './protocol.js';

/**
 * The users whose presence the app asked for, and what is known about them. Subscriptions outlive the
 * socket (the client subscribes again after every reconnect); known presence is only ever changed by
 * newer information, so callers emit exactly the changes.
 *
 * Ordering: a `presence:subscribe` answer is a snapshot taken some time before it arrives, and a live
 * `presence` event for the same user may arrive in between. Such an event is at least as new as the
 * snapshot, so it wins: `mark()` before the request, `applySnapshot(list, mark)` after it.
 */
export class PresenceSubscriptions {
  readonly #wanted = new Set<string>();
  readonly #known = new Map<string, Presence>();
  /** userId → the clock value of its latest live event. */
  readonly #eventAt = new Map<string, number>();
  #clock = 0;

  /** Adds subscriptions; returns the ids given, de-duplicated. */
  add(userIds: readonly string[]): string[] {
    const ids = [...new Set(userIds)];
    for (const id of ids) this.#wanted.add(id);
    return ids;
  }

  remove(userIds: readonly string[]): string[] {
    const ids = [...new Set(userIds)].filter((id) => this.#wanted.has(id));
    for (const id of ids) {
      this.#wanted.delete(id);
      this.#known.delete(id);
      this.#eventAt.delete(id);
    }
    return ids;
  }

  has(userId: string): boolean {
    return this.#wanted.has(userId);
  }

  /** Every subscribed id. */
  all(): string[] {
    return [...this.#wanted];
  }

  get(userId: string): Presence | undefined {
    return this.#known.get(userId);
  }

  /** A point in time to pass to `applySnapshot` for a request made now. */
  mark(): number {
    return this.#clock;
  }

  /** A live event: returns true if it changed what is known (so it should be emitted). */
  applyEvent(presence: Presence): boolean {
    if (!this.#wanted.has(presence.userId)) return false;
    this.#clock += 1;
    this.#eventAt.set(presence.userId, this.#clock);
    return this.#set(presence);
  }

  /**
   * A subscribe answer requested at `mark`: stores each entry unless a live event for that user arrived
   * since (it is newer). Returns the entries that changed what is known.
   */
  applySnapshot(list: readonly Presence[], mark: number): Presence[] {
    const changed: Presence[] = [];
    for (const presence of list) {
      if (!this.#wanted.has(presence.userId)) continue;
      if ((this.#eventAt.get(presence.userId) ?? -1) > mark) continue;
      if (this.#set(presence)) changed.push(presence);
    }
    return changed;
  }

  #set(presence: Presence): boolean {
    const known = this.#known.get(presence.userId);
    const next: Presence = { userId: presence.userId, online: presence.online, lastSeenAt: presence.lastSeenAt };
    this.#known.set(presence.userId, next);
    return !known || known.online !== next.online || known.lastSeenAt !== next.lastSeenAt;
  }
}
