import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { newId } from '../store/ids.js';
import { SERVICE_KEY_SCOPES, type NotifyStore, type ServiceKeyRecord, type ServiceKeyScope } from './notify-store.js';

/** `psk_<24 hex id>_<43 characters of URL-safe base64>`: the id finds the record, the secret proves it. */
const KEY_FORMAT = /^psk_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;

export interface CreatedServiceKey {
  readonly record: ServiceKeyRecord;
  /** The whole key, shown once: only the SHA-256 of its secret is stored. */
  readonly key: string;
}

/**
 * Service keys: how other backends authenticate to `POST /v1/events` and the schedule routes. A key is
 * a random 256-bit secret, so a plain SHA-256 is enough to store it (no slow hash needed: there is no
 * low-entropy password to guess), compared in constant time. Keys are scoped and revocable.
 *
 * @example
 * const { key } = await serviceKeys.create('catalog-backend', ['events:write']);
 * // send it as `Authorization: Bearer <key>` or `X-Service-Key: <key>`
 */
export class ServiceKeys {
  private readonly log: Logger;

  constructor(
    private readonly notifyStore: NotifyStore,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'service-keys' });
  }

  async create(name: string, scopes: readonly string[]): Promise<CreatedServiceKey> {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) throw new ParleyError('invalid_payload', 'a key name is 1 to 64 letters, digits, _ . : -', { fields: ['name'] });
    const unknown = scopes.filter((s) => !(SERVICE_KEY_SCOPES as readonly string[]).includes(s));
    if (unknown.length > 0 || scopes.length === 0) {
      throw new ParleyError('invalid_payload', `scopes must be some of ${SERVICE_KEY_SCOPES.join(', ')}`, { fields: ['scopes'], unknown });
    }
    const id = newId();
    const secret = randomBytes(32).toString('base64url');
    const record = await this.notifyStore.createServiceKey({ id, name, scopes: [...new Set(scopes)] as ServiceKeyScope[], secretHash: hashSecret(secret) });
    this.log.info({ keyId: id, name, scopes: record.scopes }, 'service key created');
    return { record, key: `psk_${id}_${secret}` };
  }

  async revoke(id: string): Promise<ServiceKeyRecord> {
    const record = await this.notifyStore.revokeServiceKey(id, new Date());
    if (!record) throw new ParleyError('not_found', `no service key ${id}`, { keyId: id });
    this.log.info({ keyId: id }, 'service key revoked');
    return record;
  }

  list(): Promise<ServiceKeyRecord[]> {
    return this.notifyStore.listServiceKeys();
  }

  /**
   * The key's record when `raw` is a valid, unrevoked key holding `scope`. A missing, malformed,
   * unknown or revoked key is `unauthorized`; a valid key without the scope is `forbidden`.
   */
  async verify(raw: string | undefined, scope: ServiceKeyScope): Promise<ServiceKeyRecord> {
    if (!raw) throw new ParleyError('unauthorized', 'missing service key (Authorization: Bearer <key> or X-Service-Key)');
    const match = KEY_FORMAT.exec(raw);
    if (!match) throw new ParleyError('unauthorized', 'malformed service key');
    const [, id, secret] = match as unknown as [string, string, string];
    const record = await this.notifyStore.getServiceKey(id);
    if (!record || !sameHash(record.secretHash, hashSecret(secret))) {
      this.log.warn({ keyId: id }, 'service key refused: unknown id or wrong secret');
      throw new ParleyError('unauthorized', 'invalid service key');
    }
    if (record.revokedAt) {
      this.log.warn({ keyId: id, name: record.name }, 'revoked service key used');
      throw new ParleyError('unauthorized', 'service key revoked');
    }
    if (!record.scopes.includes(scope)) throw new ParleyError('forbidden', `the service key lacks the ${scope} scope`, { scope });
    return record;
  }
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
