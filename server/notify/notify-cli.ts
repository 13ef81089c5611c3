import webpush from 'web-push';
import { ParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NotifyStore } from './notify-store.js';
import { ServiceKeys } from './service-keys.js';

export const NOTIFY_CLI_USAGE = `usage: parley notify <command>
  key create <name> [scopes…]   create a service key (default scope events:write; also events:read,
                                schedules:read, schedules:write); the key is printed once
  key list                      list service keys (ids, names, scopes, revoked or not)
  key revoke <id>               revoke a service key
  vapid-keys                    generate a VAPID key pair for VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY`;

export interface VapidKeys {
  readonly publicKey: string;
  readonly privateKey: string;
}

/** A fresh VAPID key pair (P-256, URL-safe base64), as the push channel's configuration takes it. */
export function generateVapidKeys(): VapidKeys {
  const { publicKey, privateKey } = webpush.generateVAPIDKeys();
  return { publicKey, privateKey };
}

export interface NotifyCliDeps {
  /** Opened lazily: `vapid-keys` needs no store. Closed before returning. */
  readonly notifyStore: () => NotifyStore;
  readonly logger: Logger;
  readonly write: (text: string) => void;
}

/**
 * `parley notify …`: service keys and VAPID keys. Returns the exit code.
 *
 * @example
 * // in server/cli.ts
 * if (command === 'notify') return runNotifyCli(args, { notifyStore: () => createNotifyStore(config.mongodbUri, { logger }), logger, write: (t) => process.stdout.write(t) });
 */
export async function runNotifyCli(args: readonly string[], deps: NotifyCliDeps): Promise<number> {
  const [command, sub, ...rest] = args;
  if (command === 'vapid-keys') {
    const keys = generateVapidKeys();
    deps.write(`VAPID_PUBLIC_KEY=${keys.publicKey}\nVAPID_PRIVATE_KEY=${keys.privateKey}\n`);
    return 0;
  }
  if (command !== 'key' || !sub || !['create', 'list', 'revoke'].includes(sub)) {
    deps.write(`${NOTIFY_CLI_USAGE}\n`);
    return 2;
  }
  const store = deps.notifyStore();
  if (store.driver === 'memory') deps.logger.warn('no MONGODB_URI: a key made here lives only in this command and is useless to a server');
  await store.init();
  try {
    const keys = new ServiceKeys(store, deps.logger);
    if (sub === 'create') {
      const [name, ...scopes] = rest;
      if (!name) {
        deps.write(`${NOTIFY_CLI_USAGE}\n`);
        return 2;
      }
      const created = await keys.create(name, scopes.length > 0 ? scopes : ['events:write']);
      deps.write(`id:     ${created.record.id}\nname:   ${created.record.name}\nscopes: ${created.record.scopes.join(' ')}\nkey:    ${created.key}\n(shown once: store it now)\n`);
      return 0;
    }
    if (sub === 'list') {
      for (const key of await keys.list()) {
        deps.write(`${key.id}  ${key.name}  ${key.scopes.join(',')}  ${key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : 'active'}\n`);
      }
      return 0;
    }
    const [id] = rest;
    if (!id) {
      deps.write(`${NOTIFY_CLI_USAGE}\n`);
      return 2;
    }
    const revoked = await keys.revoke(id);
    deps.write(`revoked ${revoked.id} (${revoked.name})\n`);
    return 0;
  } catch (err) {
    if (err instanceof ParleyError) {
      deps.write(`${err.code}: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await store.close();
  }
}
