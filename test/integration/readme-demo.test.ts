import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { api, openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

const run = promisify(execFile);

describe('the README walkthrough', function () {
  this.timeout(30_000);
  let server: TestServer;

  before(async () => {
    server = await startServer({ store: 'memory' });
  });
  after(async () => {
    await server.stop();
  });

  it('sends a message with scripts/chat-demo.mjs that the other user then reads', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const { stdout } = await run('node', ['scripts/chat-demo.mjs', conversationId, 'hello from the demo'], {
      env: { ...process.env, PARLEY_URL: server.url, PARLEY_TOKEN: ann.accessToken },
    });
    expect(stdout).to.contain('sent as #1');
    const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
    expect(history.body.messages[0].text).to.equal('hello from the demo');
  });
});
