import type { Server, Socket } from 'socket.io';
import type { z } from 'zod';
import type { ClientToServerEvents, ServerToClientEvents } from '../../client-sdk/src/index.js';
import type { AuthService } from '../auth/index.js';
import type { MessageService } from '../chat/index.js';
import { sessionRoom, userRoom } from '../chat/index.js';
import type { TypingService } from '../chat/typing-service.js';
import { ParleyError, toParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/index.js';
import { type PresenceService, presenceRoom } from '../presence/index.js';
import { parsePayload, type Schemas } from './schemas.js';
import { newTraceId, withTrace } from '../tracing.js';

export interface SocketData {
  userId: string;
  sessionId: string;
}

export type ParleyServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type ParleySocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export interface SocketDeps {
  readonly auth: AuthService;
  readonly messages: MessageService;
  readonly presence: PresenceService;
  readonly typing: TypingService;
  readonly schemas: Schemas;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly maxPageSize: number;
}

export interface SocketGateway {
  /**
   * Stops taking events (new ones answer `unavailable`), waits up to `timeoutMs` for the acks in flight,
   * then closes every socket's transport so clients reconnect, to another node, by themselves.
   */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * Authenticates every handshake and wires the client events to the services. A failed handshake ends
 * in `connect_error` with `err.message` = the code and `err.data` = the error object.
 */
export function attachSocketGateway(io: ParleyServer, deps: SocketDeps): SocketGateway {
  const { auth, messages, presence, typing, metrics, schemas: s } = deps;
  const log = deps.logger.child({ module: 'socket' });
  const inFlight = new InFlight();
  // Per user, how many of their sockets this node holds.
  const localSockets = new Map<string, number>();

  io.use((socket, next) => {
    if (inFlight.draining) {
      metrics.errorAnswered('socket', 'unavailable');
      return next(handshakeRefusal(new ParleyError('unavailable', 'this node is shutting down')));
    }
    const token: unknown = socket.handshake.auth?.['token'];
    auth
      .authenticate(typeof token === 'string' ? token : undefined)
      .then((ctx) => {
        socket.data.userId = ctx.userId;
        socket.data.sessionId = ctx.sessionId;
        next();
      })
      .catch((err: unknown) => {
        const error = toParleyError(err);
        log.info({ code: error.code, address: socket.handshake.address }, 'handshake refused');
        metrics.errorAnswered('socket', error.code);
        next(handshakeRefusal(error));
      });
  });

  io.on('connection', (socket) => {
    const { userId } = socket.data;
    void socket.join([userRoom(userId), sessionRoom(socket.data.sessionId)]);
    void presence.connected(userId, socket.id);
    localSockets.set(userId, (localSockets.get(userId) ?? 0) + 1);
    metrics.socketConnected();
    // Sees broadcasts through the adapter too: one count per event per receiving socket on this node.
    socket.onAnyOutgoing((event: string) => metrics.eventSent(event));
    socket.on('disconnect', () => {
      metrics.socketDisconnected();
      void presence.disconnected(userId, socket.id);
      const left = (localSockets.get(userId) ?? 1) - 1;
      if (left > 0) {
        localSockets.set(userId, left);
        return;
      }
      localSockets.delete(userId);
      // Typing timers live on this node; another device of the user here may still be typing.
      void typing.stopAll(userId);
    });
    const on = answering(socket, log, metrics, inFlight);

    on('message:send', s.send, async (p) => ({ message: await messages.send(userId, p) }));
    on('message:edit', s.edit, async (p) => ({ message: await messages.edit(userId, p.messageId, p.text) }));
    on('message:delete', s.delete, async (p) => {
      await messages.delete(userId, p.messageId, p.scope);
      return {};
    });
    on('message:withdraw', s.withdraw, async (p) => {
      await messages.withdraw(userId, p.messageId);
      return {};
    });
    on('receipt:delivered', s.receipt, async (p) => {
      await messages.receipt(userId, p.conversationId, 'delivered', p.seq);
      return {};
    });
    on('receipt:read', s.receipt, async (p) => {
      await messages.receipt(userId, p.conversationId, 'read', p.seq);
      return {};
    });
    on('sync', s.sync, async (p) => ({ conversations: await messages.sync(userId, p.conversations ?? {}, p.limit ?? deps.maxPageSize) }));
    on('presence:subscribe', s.presenceSubscribe, async (p) => {
      // Join before reading the snapshot, so a change in between arrives as an event, not lost.
      const allowed = await presence.allowedToSee(userId, p.userIds);
      await socket.join(allowed.map(presenceRoom));
      return { presence: (await presence.visible(userId, allowed)).presence };
    });
    on('presence:unsubscribe', s.presenceSubscribe, async (p) => {
      for (const id of p.userIds) await socket.leave(presenceRoom(id));
      return {};
    });
    // Typing has no ack: it is fire-and-forget, and a bad one is simply dropped.
    socket.on('typing', (payload: unknown) => {
      metrics.eventReceived('typing');
      if (inFlight.draining) return;
      try {
        const p = parsePayload(s.typing, payload);
        typing.typing(userId, p.conversationId, p.state).catch(() => undefined);
      } catch {
        // invalid typing frames are ignored
      }
    });
  });

  return {
    async drain(timeoutMs) {
      inFlight.draining = true;
      await inFlight.settled(timeoutMs);
      for (const socket of io.of('/').sockets.values()) socket.conn.close();
    },
  };
}

/** Counts acknowledged events in progress, so a draining node can wait for their acks. */
class InFlight {
  draining = false;
  private count = 0;
  private waiters: Array<() => void> = [];

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  settled(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * Registers a handler that validates its payload, runs, and always answers the ack exactly once with the
 * envelope. Events sent without an ack callback are dropped: there is nobody to tell the outcome to.
 * Every event is counted on arrival and every ack timed from arrival, errors included.
 */
function answering(socket: ParleySocket, log: Logger, metrics: Metrics, inFlight: InFlight) {
  return <S extends z.ZodType>(event: keyof ClientToServerEvents, schema: S, run: (payload: z.infer<S>) => Promise<object>): void => {
    const listener = (payload: unknown, ack: unknown): void => {
      metrics.eventReceived(event);
      if (typeof ack !== 'function') return;
      const receivedAt = performance.now();
      const reply = (answer: object, error?: ParleyError): void => {
        metrics.acked(event, (performance.now() - receivedAt) / 1000, error?.code);
        (ack as (answer: object) => void)(answer);
      };
      const fail = (error: ParleyError): void => reply({ ok: false, error: error.toWire() }, error);
      if (inFlight.draining) {
        fail(new ParleyError('unavailable', 'this node is shutting down; retry on reconnect'));
        return;
      }
      inFlight.enter();
      // Every log line of this event, and every job it publishes, carries this trace id.
      void withTrace(newTraceId(), async () => {
        log.debug({ event, userId: socket.data.userId }, 'socket event');
        try {
          reply({ ok: true, ...(await run(parsePayload(schema, payload))) });
        } catch (err) {
          const error = toParleyError(err);
          if (error.code === 'internal') log.error({ err, event, userId: socket.data.userId }, 'handler failed');
          fail(error);
        } finally {
          inFlight.leave();
        }
      });
    };
    socket.on(event, listener as never);
  };
}

/** A handshake refusal as the client sees it: `connect_error` with message = code and `data` = the error. */
export function handshakeRefusal(err: unknown): Error {
  const error = toParleyError(err);
  return Object.assign(new Error(error.code), { data: error.toWire() });
}
