import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { buildWebApp, ensureChromium, launchBrowser, myMessage, openPage, registerIn, screenshot, sendIn } from '../support/browser.js';
import { startServer, type TestServer } from '../support/server.js';

describe('web app in a real browser', function () {
  this.timeout(120_000);
  let server: TestServer;
  let browser: Browser;

  before(async function () {
    this.timeout(600_000);
    const chromium = ensureChromium();
    if (!chromium.ok) {
      console.warn(`\n  SKIPPING browser tests: ${chromium.reason}\n`);
      this.skip();
    }
    buildWebApp();
    server = await startServer({ store: 'memory' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  describe('GET / and its assets', () => {
    it('serves the built app with a strict CSP, security headers and cache rules', async () => {
      const index = await fetch(`${server.url}/`);
      expect(index.status).to.equal(200);
      expect(index.headers.get('content-type')).to.match(/^text\/html/);
      const csp = index.headers.get('content-security-policy') ?? '';
      expect(csp).to.include("default-src 'none'");
      expect(csp).to.include("script-src 'self'");
      expect(csp).to.match(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/);
      expect(csp).to.include("frame-ancestors 'none'");
      expect(index.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(index.headers.get('referrer-policy')).to.equal('no-referrer');
      expect(index.headers.get('cache-control')).to.equal('no-cache');

      const html = await index.text();
      const script = /src="(\/assets\/app-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
      expect(script, 'index.html references the hashed bundle').to.be.a('string');
      const asset = await fetch(`${server.url}${script}`);
      expect(asset.status).to.equal(200);
      expect(asset.headers.get('content-type')).to.match(/^text\/javascript/);
      expect(asset.headers.get('cache-control')).to.equal('public, max-age=31536000, immutable');

      const etag = index.headers.get('etag') ?? '';
      expect((await fetch(`${server.url}/`, { headers: { 'if-none-match': etag } })).status).to.equal(304);
      expect((await fetch(`${server.url}/assets/..%2f..%2fpackage.json`)).status).to.equal(404);
      expect((await fetch(`${server.url}/assets/%2e%2e/index.html`)).status).to.equal(404);
      const api = await fetch(`${server.url}/v1/nope`);
      expect(api.status).to.equal(404);
      expect(((await api.json()) as { error: { code: string } }).error.code).to.equal('not_found');
    });
  });

  describe('when two users chat', () => {
    it('delivers messages both ways with unread badges, and read ticks reach the sender', async () => {
      const ann = await openPage(browser);
      const bob = await openPage(browser);
      try {
        await registerIn(ann.page, server.url, 'ann');
        const { id: bobId } = await registerIn(bob.page, server.url, 'bob');

        await ann.page.getByTestId('new-chat-input').fill(bobId);
        await ann.page.getByTestId('new-chat-submit').click();
        await ann.page.waitForSelector('[data-testid="composer-input"]', { state: 'visible' });
        await sendIn(ann.page, 'Hello Bob');
        // Bob's client is online but has not opened the chat: his SDK acknowledges delivery by itself.
        await ann.page.waitForSelector(`${myMessage('Hello Bob')}[data-status="delivered"]`);

        const item = bob.page.locator('[data-testid="conversation-item"]');
        await item.waitFor();
        expect(await item.getByTestId('unread-badge').textContent()).to.equal('1');
        expect(await item.textContent()).to.include('Hello Bob');
        await item.locator('button').click();
        await bob.page.waitForSelector('[data-testid="message"][data-mine="false"]:has-text("Hello Bob")');
        expect(await item.getByTestId('unread-badge').count()).to.equal(0);

        // Bob has the chat open and visible: his read receipt turns Ann's ticks "read".
        await ann.page.waitForSelector(`${myMessage('Hello Bob')}[data-status="read"]`);

        await sendIn(bob.page, 'Hi Ann!');
        await ann.page.waitForSelector('[data-testid="message"][data-mine="false"]:has-text("Hi Ann!")');
        await bob.page.waitForSelector(`${myMessage('Hi Ann!')}[data-status="read"]`);

        const annSeqs = await ann.page.locator('[data-testid="message"]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset['seq']));
        expect(annSeqs).to.deep.equal(['1', '2']);

        await screenshot(ann.page, 'web-chat-ann');
        await screenshot(bob.page, 'web-chat-bob');
        expect(ann.errors, 'ann page errors').to.deep.equal([]);
        expect(bob.errors, 'bob page errors').to.deep.equal([]);
      } finally {
        await ann.context.close();
        await bob.context.close();
      }
    });

    it('keeps the session and the conversation across a reload, and fits a phone screen', async () => {
      const ann = await openPage(browser, { width: 390, height: 760 });
      const bob = await openPage(browser);
      try {
        await registerIn(ann.page, server.url, 'ann');
        const { id: bobId } = await registerIn(bob.page, server.url, 'bob');
        await ann.page.getByTestId('new-chat-input').fill(bobId);
        await ann.page.getByTestId('new-chat-submit').click();
        await sendIn(ann.page, 'before reload');
        await ann.page.waitForSelector(`${myMessage('before reload')}[data-status="delivered"]`);

        await ann.page.reload();
        await ann.page.waitForSelector('[data-testid="connection-state"][data-state="online"]');
        const item = ann.page.locator('[data-testid="conversation-item"]');
        await item.waitFor();
        expect(await item.textContent()).to.include('before reload');
        await item.locator('button').click();
        await ann.page.waitForSelector(`${myMessage('before reload')}[data-status="delivered"]`);
        // One column on a phone: the list gives way to the pane.
        expect(await ann.page.locator('.sidebar').isVisible()).to.equal(false);
        const overflow = await ann.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, 'no horizontal scrolling').to.be.at.most(0);

        await screenshot(ann.page, 'web-chat-phone');
        expect(ann.errors, 'ann page errors').to.deep.equal([]);
      } finally {
        await ann.context.close();
        await bob.context.close();
      }
    });
  });
});
