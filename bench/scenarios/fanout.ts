/**
 * fanout: one sender to a group of 500 members spread over 2 gateways (250 sockets on each, the sender on
 * node 1), joined through Redis (classic adapter); each message reaches every member socket (the sender's
 * own included, as Parley does). The sender keeps a window of 32 messages, a message being done once acked
 * and received by all 499 other members. Reported: deliveries/s (messages received by members other than
 * the sender) for Parley (memory store, records copied to node 2) vs bare relays broadcasting to a room of
 * 500 sockets. The generator decodes every delivery, so its CPU share is printed: near 100% means the
 * figure is the generator's limit, not the server's.
 *
 *   npm run bench -- fanout [--quick]
 */
import { api, closeAll, connectMany, TEXT_100, type Client } from '../lib/clients.js';
import { seedUsers, shareRecords, startBare, startParley, stopAll } from '../lib/deploy.js';
import { phases, type Context, type ScenarioReport } from '../lib/scenario.js';
import type { ServerProcess } from '../lib/server-process.js';
import { cpuPercent, log, ratio, round, sleep } from '../lib/stats.js';

const MEMBERS = 500;
const WINDOW = 32;

interface Group {
  sender: Client;
  members: Client[];
  conversationId: string;
}

async function connectGroup(kind: 'parley' | 'bare', nodes: readonly ServerProcess[]): Promise<Group> {
  const half = MEMBERS / 2;
  if (kind === 'bare') {
    const auth = { rooms: ['group'] };
    const a = await connectMany(nodes[0]!.url, Array.from({ length: half }, () => auth));
    const b = await connectMany(nodes[1]!.url, Array.from({ length: half }, () => auth));
    return { sender: a[0]!, members: [...a.slice(1), ...b], conversationId: 'group' };
  }
  const users = await seedUsers(nodes[0]!, MEMBERS);
  const owner = users[0]!;
  const res = await api<{ conversation: { id: string } }>(nodes[0]!.url, 'POST', '/v1/conversations', owner.token, { type: 'group', title: 'bench', memberIds: users.slice(1).map((u) => u.userId) });
  await shareRecords(nodes, users.map((u) => u.userId), [res.conversation.id]);
  const a = await connectMany(nodes[0]!.url, users.slice(0, half).map((u) => ({ token: u.token })));
  const b = await connectMany(nodes[1]!.url, users.slice(half).map((u) => ({ token: u.token })));
  return { sender: a[0]!, members: [...a.slice(1), ...b], conversationId: res.conversation.id };
}

async function run(kind: 'parley' | 'bare', phase: ReturnType<typeof phases>) {
  let nodes: ServerProcess[] = [];
  try {
    nodes = kind === 'parley' ? await startParley(2, { adapter: 'classic' }, 'parley') : await startBare(2, 'classic');
    const group = await connectGroup(kind, nodes);
    const remaining = new Map<string, { left: number; acked: boolean }>();
    let deliveries = 0;
    let measuring = false;
    let stopped = false;
    let errors = 0;
    let n = 0;
    const send = () => {
      if (stopped) return;
      const clientMsgId = `f${kind}${++n}`;
      remaining.set(clientMsgId, { left: group.members.length, acked: false });
      group.sender.emit('message:send', { conversationId: group.conversationId, clientMsgId, text: TEXT_100 }, (r: { ok?: boolean }) => {
        const m = remaining.get(clientMsgId);
        if (r?.ok === false) errors++;
        if (!m) return;
        m.acked = true;
        if (m.left === 0 || r?.ok === false) done(clientMsgId);
      });
    };
    const done = (id: string) => {
      remaining.delete(id);
      send();
    };
    for (const member of group.members) {
      member.on('message:new', (msg: { clientMsgId: string }) => {
        const m = remaining.get(msg.clientMsgId);
        if (measuring) deliveries++;
        if (!m) return;
        m.left--;
        if (m.left === 0 && m.acked) done(msg.clientMsgId);
      });
    }
    for (let i = 0; i < WINDOW; i++) send();
    await sleep(phase.warmupMs);
    const before = await Promise.all(nodes.map((s) => s.stats()));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    measuring = true;
    await sleep(phase.measureMs);
    measuring = false;
    const ms = performance.now() - t0;
    const cpu1 = process.cpuUsage();
    const after = await Promise.all(nodes.map((s) => s.stats()));
    stopped = true;
    await sleep(500);
    closeAll([group.sender, ...group.members]);
    const r = {
      deliveriesPerSecond: round((deliveries / ms) * 1000, 0),
      messagesPerSecond: round((deliveries / group.members.length / ms) * 1000, 1),
      errors,
      generatorCpu: cpuPercent(cpu0, cpu1, ms),
      serverCpu: Object.fromEntries(nodes.map((s, i) => [s.name, cpuPercent(before[i]!, after[i]!, ms)])),
    };
    log(`  ${kind}: ${r.deliveriesPerSecond} deliveries/s (${r.messagesPerSecond} msg/s to ${group.members.length}); CPU generator ${r.generatorCpu}% servers ${JSON.stringify(r.serverCpu)}${errors ? `, ${errors} errors` : ''}`);
    return r;
  } finally {
    await stopAll(nodes);
  }
}

export async function fanout(ctx: Context): Promise<ScenarioReport> {
  const phase = phases(ctx.quick);
  log(`fanout: 1 sender → group of ${MEMBERS} over 2 gateways (classic Redis adapter), window ${WINDOW}`);
  const bare = await run('bare', phase);
  const parley = await run('parley', phase);
  const generatorBound = Math.max(bare.generatorCpu, parley.generatorCpu) >= 90;
  return {
    name: 'fanout',
    rows: [
      { scenario: `fanout (${MEMBERS}, 2 nodes)`, measure: 'deliveries / s', parley: parley.deliveriesPerSecond, baseline: bare.deliveriesPerSecond, ratio: ratio(parley.deliveriesPerSecond, bare.deliveriesPerSecond), target: '', met: null },
      { scenario: `fanout (${MEMBERS}, 2 nodes)`, measure: `generator CPU %${generatorBound ? ' (generator-bound)' : ''}`, parley: parley.generatorCpu, baseline: bare.generatorCpu, ratio: null, target: '', met: null },
    ],
    details: { members: MEMBERS, windowMessages: WINDOW, adapter: 'classic', store: 'memory (records copied to node 2)', phase, parley, bare, generatorBound },
  };
}
