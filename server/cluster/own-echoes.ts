import { createShardedAdapter, RedisAdapter } from '@socket.io/redis-adapter';
import type { ServerOptions } from 'socket.io';
import type { FanoutMode } from './redis-fanout.js';

/**
 * Redis hands a node's broadcasts back to it: every node listens to every broadcast of its namespace
 * (classic: one PSUBSCRIBE pattern; sharded 'static': one channel), the publisher included. Both adapters
 * decode such an echo in full before they see their own uid in it and drop it, so a node paid a whole
 * decode per message it published. Its own uid sits at a fixed place in the bytes it published: first in
 * the classic adapter's msgpack `[uid, packet, opts]`, last but one in the sharded adapter's JSON
 * `{ type, data, uid, nsp }` (ClusterAdapter adds uid and nsp after the rest). Returns the test for those
 * bytes. A message it does not recognise (binary payloads, which the sharded adapter sends as msgpack, or
 * a future format) goes to the adapter as before, which drops it if it is an echo after all; and a
 * message carrying this uid is one the adapter would drop anyway, so the test changes no outcome.
 */
export function ownEchoTest(mode: FanoutMode, uid: string, namespace: string): (raw: Buffer) => boolean {
  if (mode === 'classic') {
    const uidBytes = Buffer.from(uid);
    // msgpack: a fixarray of 3 (0x93), then the uid as a fixstr (0xa0 | length, up to 31 bytes).
    if (uidBytes.length > 31) return () => false;
    const head = Buffer.concat([Buffer.from([0x93, 0xa0 | uidBytes.length]), uidBytes]);
    return (raw) => raw.length > head.length && raw.compare(head, 0, head.length, 0, head.length) === 0;
  }
  const tail = Buffer.from(`,"uid":${JSON.stringify(uid)},"nsp":${JSON.stringify(namespace)}}`);
  return (raw) => raw.length > tail.length && raw.compare(tail, 0, tail.length, raw.length - tail.length, raw.length) === 0;
}

/**
 * What `io.adapter()` takes. Socket.IO calls it with `new`, so a factory must be a `function`: an arrow
 * function cannot be constructed, and a function called with `new` returns the object it returns.
 */
type Factory = NonNullable<ServerOptions['adapter']>;

/** What the subclass below uses of RedisAdapter; its subscription handler is private in its typings (8.3). */
interface ClassicInternals {
  readonly uid: string;
  readonly nsp: { readonly name: string };
  onmessage(pattern: Buffer, channel: Buffer, msg: Buffer): void;
}

// The base constructor binds `this.onmessage` as the PSUBSCRIBE listener, so only a subclass can come
// before it; a patch on the instance would be too late.
const ClassicBase = RedisAdapter as unknown as new (...args: ConstructorParameters<typeof RedisAdapter>) => ClassicInternals;

class ClassicAdapterDroppingEchoes extends ClassicBase {
  #isEcho: ((raw: Buffer) => boolean) | undefined;

  override onmessage(pattern: Buffer, channel: Buffer, msg: Buffer): void {
    this.#isEcho ??= ownEchoTest('classic', this.uid, this.nsp.name);
    if (this.#isEcho(msg)) return;
    super.onmessage(pattern, channel, msg);
  }
}

/** The classic adapter (PUBLISH/PSUBSCRIBE), as `createAdapter` makes it, dropping its own echoes unread. */
export function classicAdapter(pub: unknown, sub: unknown, key: string): Factory {
  return function (nsp: unknown) {
    return new ClassicAdapterDroppingEchoes(nsp, pub, sub, { key });
  } as unknown as Factory;
}

/** The sharded adapter's subscription handler and uid, not in its typings (@socket.io/redis-adapter 8.3). */
interface ShardedInternals {
  readonly uid: string;
  onRawMessage(raw: Buffer, channel: Buffer): void;
}

/**
 * The sharded adapter (SPUBLISH/SSUBSCRIBE, one channel per namespace), dropping its own echoes unread. Its
 * listener calls `this.onRawMessage` on each message, so a method set on the instance, before any message
 * can arrive, takes its place.
 */
export function shardedAdapter(pub: unknown, sub: unknown, channelPrefix: string): Factory {
  const create = createShardedAdapter(pub, sub, { channelPrefix, subscriptionMode: 'static' });
  return function (nsp: { name: string }) {
    const adapter = create(nsp);
    const internals = adapter as unknown as ShardedInternals;
    const isEcho = ownEchoTest('sharded', internals.uid, nsp.name);
    const onRawMessage = internals.onRawMessage.bind(adapter);
    internals.onRawMessage = (raw, channel) => {
      if (!isEcho(raw)) onRawMessage(raw, channel);
    };
    return adapter;
  } as unknown as Factory;
}
