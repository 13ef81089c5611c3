// Two users chat through the SDK against a running Parley.
// Run: npx tsx client-sdk/examples/quickstart.ts [http://localhost:3000]
// (in an app, import from '@parley/client' instead of '../src/index.js')
import { type AuthResult, createClient, createTokenSession, type ParleyClient, register } from '../src/index.js';

const url = process.argv[2] ?? 'http://localhost:3000';
const suffix = crypto.randomUUID().slice(0, 8);

function connect(auth: AuthResult): ParleyClient {
  const session = createTokenSession({ url, accessToken: auth.accessToken, refreshToken: auth.refreshToken });
  return createClient({ url, getToken: session.getToken });
}

const ann = await register({ url, username: `ann_${suffix}`, password: 'correct horse battery' });
const bob = await register({ url, username: `bob_${suffix}`, password: 'correct horse battery' });
const annClient = connect(ann);
const bobClient = connect(bob);
await Promise.all([annClient.ready(), bobClient.ready()]);

const bobHasRead = new Promise<void>((resolve) => {
  annClient.on('receipt', (r) => {
    if (r.userId !== bob.user.id || !r.readSeq) return;
    console.log(`ann sees bob read up to #${r.readSeq}`);
    if (r.readSeq === 2) resolve();
  });
});
bobClient.on('message', (m) => {
  console.log(`bob got #${m.seq}: ${m.text}`);
  bobClient.markRead(m.conversationId, m.seq);
});

const conversation = await annClient.openDirect(bob.user.id);
for (const text of ['hello bob', 'how are you?']) {
  const message = await annClient.send(conversation.id, text);
  console.log(`ann sent #${message.seq}`);
}
await bobHasRead;
await Promise.all([annClient.close(), bobClient.close()]);
console.log('done');
