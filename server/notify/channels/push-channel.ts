import type { Agent } from 'node:https';
import webpush from 'web-push';
import type { Logger } from '../../logger.js';
import type { NotifyConfig } from '../notify-config.js';
import type { AttemptRecord, NotifyStore } from '../notify-store.js';
import type { PriorityClass } from '../priority.js';
import { ChannelError, type ChannelAdapter } from './channel.js';

/** The payload limit of Web Push (RFC 8291: 4096 bytes of record minus the encryption overhead). */
const MAX_PAYLOAD_BYTES = 3800;

const URGENCY: Readonly<Record<PriorityClass, webpush.Urgency>> = { high: 'high', normal: 'normal', low: 'low' };

/**
 * Web Push with VAPID (`web-push`), encrypted with aes128gcm for the subscription's keys. One attempt
 * is one subscription (one device). A 404 or 410 from the push service means the subscription expired
 * or was withdrawn: it is removed and the attempt ends as `failed`, without a dead letter.
 *
 * The payload the service worker receives is JSON: `{ title, body, url, data: { eventId, eventType, attemptId } }`.
 */
export class PushChannel implements ChannelAdapter {
  readonly channel = 'push' as const;
  readonly configured: boolean;
  private readonly log: Logger;

  constructor(
    private readonly config: NotifyConfig['push'],
    private readonly notifyStore: NotifyStore,
    logger: Logger,
    /** For push services with a private CA (tests); the system's trust store otherwise. */
    private readonly agent?: Agent,
  ) {
    this.configured = Boolean(config.vapid);
    this.log = logger.child({ module: 'push-channel' });
  }

  async send(attempt: AttemptRecord): Promise<void> {
    const vapid = this.config.vapid;
    if (!vapid) throw new ChannelError('permanent', 'push is not configured (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY)');
    const subscription = await this.notifyStore.getPushSubscription(attempt.target);
    if (!subscription || subscription.userId !== attempt.userId) throw new ChannelError('gone', 'the push subscription was removed');
    const payload = pushPayload(attempt);
    try {
      await webpush.sendNotification({ endpoint: subscription.endpoint, keys: { ...subscription.keys } }, payload, {
        vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
        TTL: this.config.ttlSeconds,
        urgency: URGENCY[attempt.priorityClass],
        contentEncoding: 'aes128gcm',
        timeout: this.config.timeoutMs,
        ...(this.agent ? { agent: this.agent } : {}),
      });
    } catch (err) {
      const failure = classifyPushError(err);
      if (failure.failure === 'gone') {
        await this.notifyStore.removePushSubscription(subscription.id);
        this.log.info({ subscriptionId: subscription.id, userId: attempt.userId }, 'push subscription gone; removed');
      }
      throw failure;
    }
  }
}

function pushPayload(attempt: AttemptRecord): string {
  const message = attempt.message;
  const data = { eventId: attempt.eventId, eventType: attempt.eventType, attemptId: attempt.id };
  let body = message.body;
  for (;;) {
    const payload = JSON.stringify({ title: message.title, body, url: message.url, data });
    if (Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES || body.length === 0) return payload;
    body = `${body.slice(0, Math.floor(body.length * 0.8))}…`;
  }
}

function classifyPushError(err: unknown): ChannelError {
  if (err instanceof webpush.WebPushError) {
    const status = err.statusCode;
    if (status === 404 || status === 410) return new ChannelError('gone', `push service answered ${status}: subscription expired`);
    if (status === 429 || status >= 500) return new ChannelError('transient', `push service answered ${status}`);
    return new ChannelError('permanent', `push service answered ${status}: ${String(err.body).slice(0, 200)}`);
  }
  return new ChannelError('transient', `push service unreachable: ${err instanceof Error ? err.message : String(err)}`);
}
