/**
 * @parley/client: the SDK's front door. Everything an app needs is exported from here.
 *
 * @example
 * import { createClient, createTokenSession, login } from '@parley/client';
 * const auth = await login({ url, username: 'ann', password: 'correct horse' });
 * const session = createTokenSession({ url, accessToken: auth.accessToken, refreshToken: auth.refreshToken });
 * const client = createClient({ url, getToken: session.getToken });
 * client.on('message', (m) => console.log(m.text));
 */
export type * from './protocol.js';
export type * from './sdk-types.js';
export { login, register, type LoginOptions, type RegisterOptions } from './auth.js';
export type { BackoffOptions } from './backoff.js';
export { newClientMsgId } from './client-msg-id.js';
export { ParleyClientError, type ClientErrorCode } from './errors.js';
export { decodeJwtPayload, type AccessTokenClaims } from './jwt.js';
export type { OutboxEvent } from './outbox.js';
export { LocalStorageOutboxStorage, MemoryOutboxStorage, type KeyValueStorage, type OutboxEntry, type OutboxStorage } from './outbox-storage.js';
export {
  createClient,
  ParleyClient,
  type ClientOptions,
  type ConnectionState,
  type FallbackOptions,
  type ParleyClientEvents,
  type ParleySocket,
  type ReconnectOptions,
  type SendOptions,
} from './parley-client.js';
export type { FetchFunction, GetToken, GetTokenOptions } from './rest-client.js';
export { createTokenSession, type TokenPair, type TokenSession, type TokenSessionOptions } from './token-session.js';
export { TypedEmitter, type EventsOf } from './typed-emitter.js';
export type { TypingOptions } from './typing.js';
