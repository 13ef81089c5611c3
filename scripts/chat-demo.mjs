// A tiny terminal chat client for Parley, as shown in the README.
//   PARLEY_TOKEN=<access token> node scripts/chat-demo.mjs <conversationId>          (interactive)
//   PARLEY_TOKEN=<access token> node scripts/chat-demo.mjs <conversationId> "hello"  (send one, exit)
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const url = process.env.PARLEY_URL ?? 'http://127.0.0.1:3000';
const [conversationId, oneShot] = process.argv.slice(2);
if (!conversationId || !process.env.PARLEY_TOKEN) {
  console.error('usage: PARLEY_TOKEN=<access token> node scripts/chat-demo.mjs <conversationId> [message]');
  process.exit(2);
}

const socket = io(url, { auth: { token: process.env.PARLEY_TOKEN }, transports: ['websocket'] });
socket.on('connect_error', (err) => {
  console.error(`cannot connect: ${err.message}`);
  process.exit(1);
});
socket.on('message:new', (m) => {
  if (m.conversationId === conversationId) console.log(`#${m.seq} ${m.senderId}: ${m.text}`);
});

async function send(text) {
  // The clientMsgId makes a retried send safe: the server stores it once.
  const ack = await socket.timeout(5000).emitWithAck('message:send', { conversationId, clientMsgId: randomUUID(), text });
  if (!ack.ok) console.error(`refused: ${ack.error.code}: ${ack.error.message}`);
  return ack;
}

socket.on('connect', async () => {
  if (oneShot) {
    const ack = await send(oneShot);
    console.log(ack.ok ? `sent as #${ack.message.seq}` : 'not sent');
    socket.close();
    process.exit(ack.ok ? 0 : 1);
  }
  console.log('connected; type a line to send it');
  createInterface({ input: process.stdin }).on('line', (line) => void send(line));
});
