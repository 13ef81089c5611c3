/**
 * The baseline: a bare Socket.IO relay, as its own OS process (spawned by bench/lib/server-process.ts).
 * Websocket transport, no auth, no store, no validation. A client names the rooms it joins in its
 * handshake (`auth: { rooms }`); `message:send { conversationId, clientMsgId, text }` is broadcast as
 * `message:new` (a message of the same shape as Parley's) to the room `conversationId` — which holds
 * every member, sender included, as Parley's user rooms do — and then acked with `{ message }`.
 *
 * Env: PORT (0), HOST (127.0.0.1), REDIS_URL (unset = one node; set = the @socket.io/redis-adapter,
 * REDIS_ADAPTER classic|sharded with subscriptionMode 'static', as Parley configures it), KEY_PREFIX,
 * SOCKET_MAX_BUFFER_BYTES (65536, Parley's default).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { processStats, serveRequests } from './ipc.js';

const env = process.env;
const http = createServer();
const io = new Server(http, { maxHttpBufferSize: Number(env.SOCKET_MAX_BUFFER_BYTES ?? 65536), transports: ['websocket'] });
const mode = env.REDIS_ADAPTER === 'sharded' ? 'sharded' : 'classic';
let redis: Redis[] = [];
if (env.REDIS_URL) {
  const pub = new Redis(env.REDIS_URL);
  const sub = new Redis(env.REDIS_URL);
  redis = [pub, sub];
  // Redis may go away for a moment on a shared machine; ioredis reconnects by itself.
  for (const r of redis) r.on('error', (err: Error) => process.stderr.write(`bare relay: redis: ${err.message}\n`));
  const prefix = env.KEY_PREFIX ?? 'bare';
  io.adapter(mode === 'sharded' ? createShardedAdapter(pub, sub, { channelPrefix: prefix, subscriptionMode: 'static' }) : createAdapter(pub, sub, { key: prefix }));
}

const seqs = new Map<string, number>();
const nodeTag = randomBytes(4).toString('hex');
let counter = 0;

io.on('connection', (socket) => {
  const rooms = (socket.handshake.auth as { rooms?: unknown }).rooms;
  if (Array.isArray(rooms)) void socket.join(rooms.filter((r): r is string => typeof r === 'string'));
  socket.on('message:send', (p: { conversationId: string; clientMsgId: string; text: string }, ack?: (res: unknown) => void) => {
    const seq = (seqs.get(p.conversationId) ?? 0) + 1;
    seqs.set(p.conversationId, seq);
    const message = {
      id: `${nodeTag}${(++counter).toString(16).padStart(16, '0')}`,
      conversationId: p.conversationId,
      seq,
      senderId: socket.id,
      clientMsgId: p.clientMsgId,
      text: p.text,
      createdAt: new Date().toISOString(),
    };
    io.to(p.conversationId).emit('message:new', message);
    if (typeof ack === 'function') ack({ message });
  });
});

await new Promise<void>((resolve) => http.listen(Number(env.PORT ?? 0), env.HOST ?? '127.0.0.1', resolve));
const { port } = http.address() as AddressInfo;
serveRequests(
  {
    stats: processStats,
    stop: async () => {
      await new Promise((r) => io.close(() => r(undefined)));
      for (const r of redis) r.disconnect();
      setTimeout(() => process.exit(0), 50);
      return true;
    },
  },
  { url: `http://127.0.0.1:${port}`, drivers: { fanout: env.REDIS_URL ? `redis adapter (${mode})` : 'memory (single node)' } },
);
