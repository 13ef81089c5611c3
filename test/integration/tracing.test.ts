import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createParley, type Parley } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { freshDatabaseUri, dropDatabase } from '../support/mongo.js';
import { TEST_AMQP_URL } from '../support/cluster.js';
import { api, connectClient, eventually, openDirect, registerUser, request, TEST_JWT_SECRET } from '../support/server.js';

type LogLine = Record<string, unknown> & { msg?: string; traceId?: string };

/**
 * One trace id follows a message from the socket event through the store and RabbitMQ to the delivery
 * worker, in the structured logs; and no log line carries a token, a password or the message text.
 */
describe('trace ids in the logs (MongoDB, RabbitMQ)', function () {
  this.timeout(60_000);
  const lines: LogLine[] = [];
  const raw: string[] = [];
  let parley: Parley;
  let server: { url: string };
  const mongodbUri = freshDatabaseUri();

  before(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const text of String(chunk).split('\n').filter(Boolean)) {
          raw.push(text);
          lines.push(JSON.parse(text) as LogLine);
        }
        done();
      },
    });
    const config = loadConfig({
      PORT: '0', HOST: '127.0.0.1', JWT_SECRET: TEST_JWT_SECRET, BCRYPT_COST: '10', MONGODB_URI: mongodbUri, AMQP_URL: TEST_AMQP_URL,
      KEY_PREFIX: `t${randomUUID().slice(0, 8)}`, IP_REQUESTS_PER_SECOND: '100000', PUSH_COALESCE_MS: '0',
    });
    parley = createParley(config, { logger: createLogger('debug', sink) });
    server = { url: await parley.start() };
  });
  after(async () => {
    await parley?.stop();
    await dropDatabase(mongodbUri);
  });

  it('tags the socket event, its follow-up and the delivery job with one traceId, and never logs secrets or text', async () => {
    const secretText = `the secret text ${randomUUID()}`;
    const [ann, bob] = await Promise.all([registerUser(server, 'trace'), registerUser(server, 'tracepeer')]);
    const conversationId = await openDirect(server, ann, bob);
    const socket = await connectClient(server, ann.accessToken);
    try {
      const sent = await request(socket, 'message:send', { conversationId, clientMsgId: 'traced', text: secretText });
      expect(sent.ok).to.equal(true);
      // Bob is offline: the message becomes a delivery job, handled by the delivery worker.
      const handled = await eventually(() => {
        const line = lines.find((l) => l.msg === 'job handled' && l['jobId'] === `delivery:${sent.message.id}:${bob.user.id}`);
        expect(line, 'the delivery job was handled').to.not.equal(undefined);
        return line!;
      }, 20_000, 100);
      const event = lines.find((l) => l.msg === 'socket event' && l['event'] === 'message:send' && l.traceId === handled.traceId);
      expect(event, `a message:send socket event with traceId ${handled.traceId}`).to.not.equal(undefined);
      expect(handled.traceId).to.match(/^[0-9a-f]{32}$/);
      // The offline notification the job handed to the pipeline went through it under the same trace.
      await eventually(async () => {
        const inbox = await api(server, 'GET', '/v1/notifications', { token: bob.accessToken });
        expect(inbox.body.notifications).to.have.length(1);
      }, 20_000, 100);

      const all = raw.join('\n');
      for (const secret of [secretText, ann.accessToken, ann.refreshToken, 'correct horse battery']) expect(all).to.not.contain(secret);
      // REST requests are traced too: the request id is the trace id.
      expect(lines.some((l) => l['reqId'] !== undefined && l.traceId === l['reqId'])).to.equal(true);
    } finally {
      socket.close();
    }
  });
});
