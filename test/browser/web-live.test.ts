import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildWebApp, ensureChromium, launchBrowser, myMessage, openPage, registerIn, screenshot, sendIn } from '../support/browser.js';
import { startServer, type TestServer } from '../support/server.js';

interface Side {
  context: BrowserContext;
  page: Page;
  errors: string[];
  id: string;
  username: string;
}

const theirMessage = (text: string) => `[data-testid="message"][data-mine="false"]:has-text("${text}")`;

describe('web app live features in a real browser: typing, presence, notifications', function () {
  this.timeout(120_000);
  let server: TestServer;
  let browser: Browser;
  const open: BrowserContext[] = [];

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
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function user(name: string): Promise<Side> {
    const side = await openPage(browser);
    open.push(side.context);
    return { ...side, ...(await registerIn(side.page, server.url, name)) };
  }

  /** Ann opens a direct chat with Bob; both have it open on screen. */
  async function chatting(): Promise<{ ann: Side; bob: Side }> {
    const [ann, bob] = [await user('ann'), await user('bob')];
    await ann.page.getByTestId('new-chat-input').fill(bob.id);
    await ann.page.getByTestId('new-chat-submit').click();
    await ann.page.waitForSelector('[data-testid="composer-input"]', { state: 'visible' });
    const item = bob.page.locator('[data-testid="conversation-item"]');
    await item.waitFor();
    await item.locator('button').click();
    await bob.page.waitForSelector('[data-testid="composer-input"]', { state: 'visible' });
    return { ann, bob };
  }

  it('shows "Ann is typing…" to Bob while Ann types, and hides it when she pauses or sends', async () => {
    const { ann, bob } = await chatting();
    const typing = bob.page.getByTestId('typing-indicator');
    expect(await typing.isVisible()).to.equal(false);

    await ann.page.getByTestId('composer-input').pressSequentially('Hel', { delay: 60 });
    await typing.waitFor({ state: 'visible' });
    expect(await typing.textContent()).to.equal(`${ann.username} is typing…`);
    // The conversation list says so too.
    expect(await bob.page.locator('.conversation-preview').first().textContent()).to.equal('typing…');
    await screenshot(bob.page, 'web-typing-bob');

    // A pause: the indicator goes after the SDK's idle time (3 s), without a message.
    const pausedAt = Date.now();
    await typing.waitFor({ state: 'hidden', timeout: 8000 });
    expect(Date.now() - pausedAt).to.be.within(2000, 7000);

    await ann.page.getByTestId('composer-input').pressSequentially('lo Bob', { delay: 60 });
    await typing.waitFor({ state: 'visible' });
    const sentAt = Date.now();
    await ann.page.getByTestId('composer-input').press('Enter');
    await bob.page.waitForSelector(theirMessage('Hello Bob'));
    await typing.waitFor({ state: 'hidden', timeout: 2000 });
    expect(Date.now() - sentAt, 'sending ends it at once, not after the idle time').to.be.below(2000);

    // Clearing the input ends it as well.
    await ann.page.getByTestId('composer-input').pressSequentially('oops', { delay: 30 });
    await typing.waitFor({ state: 'visible' });
    await ann.page.getByTestId('composer-input').fill('');
    await typing.waitFor({ state: 'hidden', timeout: 2000 });

    expect(ann.errors, 'ann page errors').to.deep.equal([]);
    expect(bob.errors, 'bob page errors').to.deep.equal([]);
  });

  it('shows Ann online in Bob’s header, then "last seen" once she closes her page, or just "offline" if she hides it', async () => {
    const { ann, bob } = await chatting();
    const presence = bob.page.getByTestId('presence');
    await bob.page.waitForSelector('[data-testid="presence"][data-online="true"]');
    expect(await presence.textContent()).to.equal('online');
    await bob.page.waitForSelector('[data-testid="presence-dot"].online');

    await ann.page.close();
    await bob.page.waitForSelector('[data-testid="presence"][data-online="false"]', { timeout: 10_000 });
    expect(await presence.textContent()).to.equal('last seen just now');
    expect(await bob.page.locator('[data-testid="presence-dot"].online').count()).to.equal(0);
    await screenshot(bob.page, 'web-presence-last-seen');

    // Ann comes back (same browser profile: still signed in) and hides her last seen.
    const again = await ann.context.newPage();
    await again.goto(server.url);
    await again.waitForSelector('[data-testid="connection-state"][data-state="online"]');
    await bob.page.waitForSelector('[data-testid="presence"][data-online="true"]');
    await again.getByTestId('settings-button').click();
    const hide = again.getByTestId('setting-hide-last-seen');
    await again.waitForSelector('[data-testid="setting-hide-last-seen"]:not([disabled])');
    expect(await hide.isChecked()).to.equal(false);
    await hide.click();
    await hide.page().waitForSelector('[data-testid="setting-hide-last-seen"]:checked');
    await again.waitForSelector('[data-testid="settings-panel"][data-state="saved"]');
    await screenshot(again, 'web-settings');
    await again.close();
    await bob.page.waitForSelector('[data-testid="presence"][data-online="false"]', { timeout: 10_000 });
    expect(await presence.textContent()).to.equal('offline');

    expect(bob.errors, 'bob page errors').to.deep.equal([]);
  });

  it('rings Ann’s bell when Bob reads her message (notifyOnRead set in settings), and marks all read', async () => {
    const [ann, bob] = [await user('ann'), await user('bob')];
    await ann.page.getByTestId('settings-button').click();
    await ann.page.waitForSelector('[data-testid="setting-notify-on-read"]:not([disabled])');
    // click, not check(): the app re-renders the box from the saved settings, which under load can land
    // between Playwright's click and its own state check.
    await ann.page.getByTestId('setting-notify-on-read').click();
    await ann.page.waitForSelector('[data-testid="setting-notify-on-read"]:checked');
    await ann.page.waitForSelector('[data-testid="settings-panel"][data-state="saved"]');
    await ann.page.getByTestId('settings-button').click(); // closes the panel
    const count = ann.page.getByTestId('notification-count');
    expect(await count.isVisible()).to.equal(false);

    await ann.page.getByTestId('new-chat-input').fill(bob.id);
    await ann.page.getByTestId('new-chat-submit').click();
    await ann.page.waitForSelector('[data-testid="composer-input"]', { state: 'visible' });
    await sendIn(ann.page, 'Read me');
    await ann.page.waitForSelector(`${myMessage('Read me')}[data-status="delivered"]`);
    await ann.page.waitForTimeout(300);
    expect(await count.isVisible(), 'delivery alone rings nothing').to.equal(false);

    const item = bob.page.locator('[data-testid="conversation-item"]');
    await item.waitFor();
    await item.locator('button').click();
    await ann.page.waitForSelector(`${myMessage('Read me')}[data-status="read"]`);
    await count.waitFor({ state: 'visible' });
    expect(await count.textContent()).to.equal('1');

    await ann.page.getByTestId('notification-bell').click();
    const notification = ann.page.getByTestId('notification');
    await notification.first().waitFor();
    expect(await notification.count()).to.equal(1);
    expect(await notification.first().textContent()).to.include(`${bob.username} read your message`);
    expect(await notification.first().textContent()).to.include('Read me');
    expect(await notification.first().getAttribute('class')).to.include('unread');
    await screenshot(ann.page, 'web-notifications-ann');

    await ann.page.getByTestId('mark-all-read').click();
    await count.waitFor({ state: 'hidden' });
    expect(await notification.first().getAttribute('class')).to.not.include('unread');

    // The count survives a reload (it comes from the server's inbox).
    await ann.page.reload();
    await ann.page.waitForSelector('[data-testid="connection-state"][data-state="online"]');
    await ann.page.waitForTimeout(500);
    expect(await count.isVisible()).to.equal(false);

    expect(ann.errors, 'ann page errors').to.deep.equal([]);
    expect(bob.errors, 'bob page errors').to.deep.equal([]);
  });
});
