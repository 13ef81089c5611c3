import { createServer } from 'node:net';
import { createParley, type Parley } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { dropDatabase, freshDatabaseUri } from './mongo.js';
import { TEST_ENV } from './server.js';

/**
 * A real Parley that can be stopped and started again on the same port, over the same MongoDB database
 * and with the same JWT secret, so clients reconnect to "the same server" after a restart (tokens and
 * messages survive, in-memory state does not). `stop()` keeps the database; `destroy()` drops it.
 */
export interface RestartableServer {
  readonly url: string;
  readonly port: number;
  readonly mongodbUri: string;
  /** The running process, if any. */
  readonly parley: Parley | undefined;
  /** Stops the process (sockets are disconnected), keeping the database. */
  stop(): Promise<void>;
  /** Starts a new process on the same port and database. */
  start(): Promise<void>;
  /** A second process on another free port over the same database (no fan-out between the two). */
  startPeer(): Promise<{ url: string; stop(): Promise<void> }>;
  /** Stops and drops the database. */
  destroy(): Promise<void>;
}

export async function startRestartableServer(options: { env?: Record<string, string> } = {}): Promise<RestartableServer> {
  const port = await freePort();
  const mongodbUri = freshDatabaseUri();
  const configFor = (p: number) =>
    loadConfig({
      PORT: String(p),
      HOST: '127.0.0.1',
      ...TEST_ENV,
      MONGODB_URI: mongodbUri,
      ...options.env,
    });
  const logger = () => createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const peers: Parley[] = [];
  let parley: Parley | undefined;

  const server: RestartableServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    mongodbUri,
    get parley() {
      return parley;
    },
    async start() {
      if (parley) throw new Error('already running');
      const next = createParley(configFor(port), { logger: logger() });
      await next.start();
      parley = next;
    },
    async stop() {
      const current = parley;
      parley = undefined;
      await current?.stop();
    },
    async startPeer() {
      const peer = createParley(configFor(0), { logger: logger() });
      const url = await peer.start();
      peers.push(peer);
      return { url, stop: () => peer.stop() };
    },
    async destroy() {
      await server.stop();
      await Promise.all(peers.splice(0).map((p) => p.stop().catch(() => undefined)));
      await dropDatabase(mongodbUri);
    },
  };
  await server.start();
  return server;
}

/** A TCP port nobody listens on right now (the OS picks it; we release it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
