/**
 * A fresh idempotency key for one message. `crypto.randomUUID` needs a secure context in browsers (https
 * or localhost), so plain-http deployments fall back to a v4 UUID built from `getRandomValues`.
 *
 * @example
 * const clientMsgId = newClientMsgId();
 * await client.send(conversationId, 'hi', { clientMsgId }); // render it as pending under this key
 */
export function newClientMsgId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = c.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
