#!/usr/bin/env node
import { createParley, type Role } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { ParleyError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { createNotifyStore, runNotifyCli } from './notify/index.js';
import { MemoryStore, MongoStore } from './store/index.js';
import { parseWorkerNames } from '../workers/index.js';

const USAGE = `usage: parley <command>
  start [--role all|web]   run the gateway; with role all (the default) also every worker
  worker [names…]          run queue workers: receipts delivery presence scheduler outbox account-cleanup retention
                           notify-high notify-normal notify-low notify-scheduler notify-cleanup
  migrate                  create the store's indexes (idempotent)
  user-status <username> active|blocked
                           suspend or restore an account; suspending closes its sockets on every node
  create-service-key <name> [scopes…]
                           a key for POST /v1/events (printed once; same as parley notify key create)
  revoke-service-key <id>  revoke it (parley notify key revoke)
  vapid-keys               a VAPID key pair for Web Push (parley notify vapid-keys)
  notify …                 service keys and VAPID keys for the notification API (parley notify help)`;

/** Top-level spellings of the notify CLI's commands. */
const NOTIFY_ALIASES: Readonly<Record<string, readonly string[]>> = {
  'create-service-key': ['key', 'create'],
  'revoke-service-key': ['key', 'revoke'],
  'vapid-keys': ['vapid-keys'],
};

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger(config.logLevel);

  if (command === 'start' || command === 'worker') {
    const role: Role = command === 'worker' ? 'worker' : parseRole(args);
    const workers = command === 'worker' ? parseWorkerNames(args) : undefined;
    const parley = createParley(config, { logger, role, ...(workers ? { workers } : {}) });
    const url = await parley.start();
    const embedded = !config.mongodbUri && !config.redisUrl && !config.amqpUrl;
    logger.info({ url: url || undefined, drivers: parley.drivers, embedded }, url ? `Parley listening on ${url}` : 'Parley workers running');
    if (embedded) logger.warn('embedded mode: data lives in this process only and is lost on exit; set MONGODB_URI for durable storage');
    if (config.auth.jwtSecretGenerated) logger.warn('JWT_SECRET is not set: tokens are signed with a random key and die with this process');
    stopOnSignals(parley.stop, logger);
    return -1;
  }
  if (command === 'user-status') {
    const [username, status] = args;
    if (!username || (status !== 'active' && status !== 'blocked')) throw new ConfigError('usage: parley user-status <username> active|blocked');
    const parley = createParley(config, { logger, role: 'tool' });
    await parley.start();
    try {
      const userId = await parley.accounts.setStatus(username, status);
      process.stdout.write(`${username} (${userId}) is now ${status}\n`);
    } finally {
      // Give the adapter a moment to carry the disconnect to the other nodes before closing.
      await new Promise((r) => setTimeout(r, 300));
      await parley.stop();
    }
    return 0;
  }
  const alias = NOTIFY_ALIASES[command];
  if (command === 'notify' || alias) {
    const notifyArgs = alias ? [...alias, ...args] : args;
    return runNotifyCli(notifyArgs, { notifyStore: () => createNotifyStore(config.mongodbUri, { logger }), logger, write: (text) => process.stdout.write(text) });
  }
  if (command === 'migrate') {
    const store = config.mongodbUri ? new MongoStore(config.mongodbUri, { logger }) : new MemoryStore();
    await store.init();
    await store.close();
    const notifyStore = createNotifyStore(config.mongodbUri, { logger });
    await notifyStore.init();
    await notifyStore.close();
    logger.info({ store: store.driver }, 'indexes are in place');
    return 0;
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

function parseRole(args: readonly string[]): Role {
  const i = args.indexOf('--role');
  if (i < 0) return 'all';
  const role = args[i + 1];
  if (role !== 'all' && role !== 'web') throw new ConfigError(`--role must be all or web, not ${String(role)}`);
  return role;
}

/** SIGTERM and SIGINT drain the process; a second signal exits at once. */
function stopOnSignals(stop: () => Promise<void>, logger: Logger): void {
  const onSignal = (signal: string) => {
    logger.info({ signal }, 'draining');
    process.once(signal, () => process.exit(1));
    stop().then(
      () => {
        logger.info('drained; bye');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const expected = err instanceof ConfigError || err instanceof ParleyError || (err instanceof Error && err.message.startsWith('unknown worker'));
    process.stderr.write(expected ? `${(err as Error).message}\n` : `${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
