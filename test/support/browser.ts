import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium, installed by scripts/browser.sh. Playwright's own browser downloads are never used. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where screenshots go (git-ignored). */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Makes sure chromium is there, running scripts/browser.sh (apt-get) if it is not. Returns why not if it
 * cannot be installed, the one case in which browser tests may skip.
 */
export function ensureChromium(): { ok: true } | { ok: false; reason: string } {
  if (existsSync(CHROMIUM_PATH)) return { ok: true };
  const run = spawnSync('bash', [fileURLToPath(new URL('../../scripts/browser.sh', import.meta.url))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 540_000 });
  if (existsSync(CHROMIUM_PATH)) return { ok: true };
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n');
  return { ok: false, reason: `scripts/browser.sh could not install ${CHROMIUM_PATH} (exit ${run.status}): ${output || run.error?.message || 'no output'}` };
}

/** Builds web/dist with scripts/build-web.mjs, so the test serves exactly what the sources say. */
export function buildWebApp(): void {
  const run = spawnSync(process.execPath, ['scripts/build-web.mjs'], { cwd: ROOT, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`scripts/build-web.mjs failed:\n${run.stdout}${run.stderr}`);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** A page in its own context (own cookies and localStorage: a separate user), recording its errors. */
export async function openPage(browser: Browser, options: { width?: number; height?: number } = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1100, height: options.height ?? 720 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = `${ARTIFACTS_DIR}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Registers a fresh user through the web app's form; resolves with their id once the client is online. */
export async function registerIn(page: Page, url: string, name: string): Promise<{ id: string; username: string }> {
  const username = `${name}_${randomUUID().slice(0, 8)}`;
  await page.goto(url);
  await page.getByTestId('auth-username').fill(username);
  await page.getByTestId('auth-password').fill('correct horse battery');
  await page.getByTestId('auth-register').click();
  await page.waitForFunction(() => /^[0-9a-f]{24}$/.test(document.querySelector('[data-testid="my-id"]')?.textContent ?? ''));
  await page.waitForSelector('[data-testid="connection-state"][data-state="online"]');
  return { id: (await page.getByTestId('my-id').textContent()) ?? '', username };
}

/** Types into the composer and presses Enter. */
export async function sendIn(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-input').press('Enter');
}

/** Selector of one of my own messages (`data-mine="true"`) containing `text`. */
export const myMessage = (text: string): string => `[data-testid="message"][data-mine="true"]:has-text("${text}")`;
