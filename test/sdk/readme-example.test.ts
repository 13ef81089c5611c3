import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('client-sdk/examples/quickstart.ts (the README example)', function () {
  this.timeout(60_000);
  let server: TestServer;
  before(async () => {
    server = await startServer({ store: 'memory' });
  });
  after(async () => {
    await server.stop();
  });

  it('runs against a real server: two messages sent, received in order and read', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'client-sdk/examples/quickstart.ts', server.url], { cwd: ROOT });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, output).to.equal(0);
    const lines = output.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('bob got'))).to.deep.equal(['bob got #1: hello bob', 'bob got #2: how are you?']);
    expect(lines.filter((l) => l.startsWith('ann sent'))).to.deep.equal(['ann sent #1', 'ann sent #2']);
    expect(lines).to.include('ann sees bob read up to #2');
    expect(lines.at(-1)).to.equal('done');
  });
});
