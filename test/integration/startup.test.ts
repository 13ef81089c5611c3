import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { freePort } from '../support/redis.js';

/** `parley start` run for real, with one dependency pointing at a port nobody listens on. */
function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'server/cli.ts', 'start'],
      { env: { ...process.env, JWT_SECRET: 'startup-test-secret-0123456789abcdef', PORT: '0', LOG_LEVEL: 'error', ...env }, timeout: 40_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
    );
  });
}

describe('start-up with a dependency down', function () {
  this.timeout(60_000);

  it('exits 1 with one line naming Redis and REDIS_URL, not a stack trace', async () => {
    const { code, stderr } = await start({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(code).to.equal(1);
    expect(stderr).to.match(/^cannot reach Redis \(REDIS_URL\) at start-up: /m);
    expect(stderr).not.to.contain('    at ');
  });

  it('exits 1 with one line naming RabbitMQ and AMQP_URL', async () => {
    const { code, stderr } = await start({ AMQP_URL: `amqp://guest:guest@127.0.0.1:${await freePort()}` });
    expect(code).to.equal(1);
    expect(stderr).to.match(/^cannot reach RabbitMQ \(AMQP_URL\) at start-up: /m);
    expect(stderr).not.to.contain('    at ');
  });

  it('says RabbitMQ failed, not that it cannot be reached, when it refuses the login', async () => {
    const { code, stderr } = await start({ AMQP_URL: 'amqp://guest:not-the-password@127.0.0.1:5672' });
    expect(code).to.equal(1);
    expect(stderr).to.match(/^RabbitMQ \(AMQP_URL\) failed at start-up: .*ACCESS.REFUSED/m);
    expect(stderr).not.to.contain('    at ');
  });
});
