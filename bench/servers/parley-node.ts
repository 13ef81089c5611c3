/**
 * One Parley gateway under test, as its own OS process. Spawned by bench/lib/server-process.ts with an IPC
 * channel; configured from the environment exactly like `parley start` (server/config.ts), with
 * role `all` (workers in process when AMQP_URL is unset). Not run by hand.
 *
 * Sends `{ type: 'ready', url }`, then answers requests (see bench/lib/server-process.ts):
 * - `seed { count, prefix }`: users written straight into the store (no bcrypt, no HTTP), each with a
 *   session and access token from AuthService's own (private) `startSession`, so 10,000 users take seconds
 *   and tokens are exactly what a login would give.
 * - `export { userIds, conversationIds }` / `import { records }`: copies those users, sessions and
 *   conversations from one node's memory store into another's, so two nodes on the memory store can serve
 *   the same accounts (cross-node and fan-out scenarios). Bench-only: it writes MemoryStore's private maps.
 * - `stats { gc }`: RSS, heap and CPU time of this process (after a full GC if asked; --expose-gc).
 */
import { createParley } from '../../server/app.js';
import { AuthService } from '../../server/auth/index.js';
import type { Realtime } from '../../server/chat/index.js';
import type { EventPublisher } from '../../server/events/index.js';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import type { UserRecord } from '../../server/store/index.js';
import { serveRequests, processStats } from './ipc.js';

const config = loadConfig(process.env);
const parley = createParley(config, { logger: createLogger(config.logLevel), role: 'all' });
const store = parley.store;
/** Only `startSession` is used: it touches the store and the signing keys, not realtime or events. */
const auth = new AuthService(store, config.auth, {} as Realtime, {} as EventPublisher, parley.logger);
const startSession = (user: UserRecord) => (auth as unknown as { startSession(u: UserRecord): Promise<{ accessToken: string }> }).startSession(user);

interface Seeded {
  userId: string;
  token: string;
}

async function seed({ count, prefix }: { count: number; prefix: string }): Promise<Seeded[]> {
  const out: Seeded[] = [];
  const CHUNK = store.driver === 'memory' ? 1000 : 16;
  for (let i = 0; i < count; i += CHUNK) {
    const chunk = Array.from({ length: Math.min(CHUNK, count - i) }, (_, j) => i + j);
    out.push(
      ...(await Promise.all(
        chunk.map(async (n) => {
          const user = await store.createUser({ username: `${prefix}_${n}`, passwordHash: 'x', email: null, displayName: null });
          const { accessToken } = await startSession(user);
          return { userId: user.id, token: accessToken };
        }),
      )),
    );
  }
  return out;
}

/** MemoryStore's maps, reached around `private` for the bench's cross-node copies. */
interface MemoryInternals {
  users: Map<string, { id: string; usernameLower: string }>;
  usernames: Map<string, string>;
  sessions: Map<string, { id: string; userId: string }>;
  conversations: Map<string, { id: string; directKey: string; members: unknown[] }>;
  directKeys: Map<string, string>;
  messages: { open(conversationId: string): void };
  ensureCursors(id: string, members: unknown[]): void;
}

function internals(): MemoryInternals {
  if (store.driver !== 'memory') throw new Error('export/import work on the memory store only');
  return store as unknown as MemoryInternals;
}

function exportRecords({ userIds, conversationIds }: { userIds: string[]; conversationIds: string[] }) {
  const m = internals();
  const wanted = new Set(userIds);
  return {
    users: userIds.map((id) => m.users.get(id)),
    sessions: [...m.sessions.values()].filter((s) => wanted.has(s.userId)),
    conversations: conversationIds.map((id) => m.conversations.get(id)),
  };
}

function importRecords({ records }: { records: ReturnType<typeof exportRecords> }): number {
  const m = internals();
  for (const u of records.users) {
    if (!u) continue;
    m.users.set(u.id, u);
    m.usernames.set(u.usernameLower, u.id);
  }
  for (const s of records.sessions) m.sessions.set(s.id, s);
  for (const c of records.conversations) {
    if (!c) continue;
    m.conversations.set(c.id, c);
    m.directKeys.set(c.directKey, c.id);
    m.messages.open(c.id);
    m.ensureCursors(c.id, c.members);
  }
  return records.users.length;
}

const url = await parley.start();
serveRequests(
  {
    seed,
    export: exportRecords,
    import: importRecords,
    stats: processStats,
    stop: async () => {
      await parley.stop();
      // A normal exit, so that `--cpu-prof` (BENCH_CPU_PROF) writes its profile; the reply goes first.
      setTimeout(() => process.exit(0), 50);
      return true;
    },
  },
  { url, drivers: parley.drivers },
);
