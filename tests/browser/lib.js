// The harness of the browser tests: the app started as `spin up` is (dev_mode on, its own
// SQLite file), seeded users, and Debian's chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { after, before } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '../..');
export const SHOTS = join(ROOT, 'target', 'screenshots');
const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PASSWORD = 'Old-password-42!';
export const EMAIL = 'jane.doe@fabrikam.com';
export const MOBILE = '+1 (425) 555-0112';
export const OFFICE = '+1 425 555 0199';

function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the app the way `spin up` is started, on a fresh key-value file and
 * state directory, with the seeded users. The host is $UNLATCH_SPIN (a real
 * Spin) or the repository's runner.
 */
export async function startApp() {
  const dir = mkdtempSync(join(tmpdir(), 'unlatch-browser-'));
  const config = join(dir, 'runtime-config.toml');
  writeFileSync(config, `[key_value_store.default]\ntype = "spin"\npath = ${JSON.stringify(join(dir, 'kv.db'))}\n`);
  const host = process.env.UNLATCH_SPIN || process.env.UNLATCH_RUNNER || join(ROOT, 'target', 'debug', 'unlatch-runner');
  const port = await freePort();
  const adminToken = randomBytes(24).toString('hex');
  const args = ['up', '-f', join(ROOT, 'spin.toml'), '--listen', `127.0.0.1:${port}`,
    '--runtime-config-file', config, '--state-dir', join(dir, 'state')];
  const child = spawn(host, args, {
    cwd: ROOT,
    env: { ...process.env, SPIN_VARIABLE_DEV_MODE: 'true', SPIN_VARIABLE_ADMIN_TOKEN: adminToken },
    stdio: ['ignore', 'ignore', 'inherit'],
    // Its own process group: `spin up` runs the app in a child (`spin trigger http`), and stop() ends both.
    detached: true,
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the host (${host}) exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${base}/`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`the host (${host}) did not start in time`);
    await sleep(200);
  }
  const app = {
    base,
    adminToken,
    async stop() {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      await sleep(100);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await seed(app);
  return app;
}

/** An admin API call with the app's bearer token; fails on an error status. */
export async function admin(app, method, path, body) {
  const r = await fetch(`${app.base}/api/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${app.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`admin ${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

/**
 * The users the tests walk the journeys with, created through the admin API,
 * and a policy with less CAPTCHA work (the tests solve many) and room for
 * every test's "Who are you?" and sign-in from 127.0.0.1 within a minute.
 */
async function seed(app) {
  const policy = await admin(app, 'GET', '/policy');
  policy.captcha_difficulty = Number(process.env.UNLATCH_CAPTCHA_DIFFICULTY || 12);
  policy.throttles.identify_per_minute = 1000;
  policy.throttles.signins_per_address_per_minute = 1000;
  await admin(app, 'PUT', '/policy', policy);
  const everything = {
    contacts: {
      alternate_email: EMAIL,
      mobile_phone: { country_code: '1', number: '(425) 555-0112' },
      office_phone: { country_code: '1', number: '425 555 0199' },
    },
    security_answers: [1, 2, 3, 4, 5].map((i) => ({ question_id: `q0${i}`, answer: `Answer ${i}` })),
  };
  const nothing = { contacts: {}, security_answers: [] };
  const users = [
    ['jane', everything], ['june', everything], ['chris', everything], ['rita', everything], ['kim', everything], ['cal', everything],
    ['lee', { ...everything, locked: true }],
    ['nora', nothing],
    ['adele', { ...everything, role: 'admin', security_answers: [] }],
    ['fed', { ...everything, password_managed_here: false }],
    ['off', { ...everything, sspr_enabled: false }],
    ['bare', nothing],
  ];
  for (const [username, extra] of users) {
    await admin(app, 'POST', '/users', { username, display_name: 'Jane Doe', password: PASSWORD, ...extra });
  }
}

/**
 * The app and the browser every test of a file shares, started before the
 * file's tests and stopped after them: `const env = useAppAndBrowser();`,
 * then `env.app`, `env.browser` inside the tests.
 */
export function useAppAndBrowser() {
  const env = { app: undefined, browser: undefined };
  before(async () => {
    env.app = await startApp();
    env.browser = await startBrowser();
  });
  after(async () => {
    if (env.browser) await env.browser.close();
    if (env.app) await env.app.stop();
  });
  return env;
}

/** Debian's chromium, headless, in a fresh profile; never a downloaded browser. */
export async function startBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'unlatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A new tab that fails the test on a CSP violation or a script error, and
 * records the bytes it transferred (cache off).
 */
export async function openPage(browser, width = 1280) {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width, height: width < 600 ? 780 : 900 });
  page.problems = [];
  page.bytes = 0;
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  // Bytes on the wire (headers + bodies), as a first visit with an empty cache.
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  cdp.on('Network.loadingFinished', (e) => { page.bytes += e.encodedDataLength; });
  return page;
}

/** The newest dev-outbox message (optionally to a destination containing `to`). */
export async function outbox(app, to) {
  const r = await fetch(`${app.base}/api/dev/outbox`);
  const { messages } = await r.json();
  return messages.find((m) => !to || m.to.includes(to));
}

/** Presses `digit` on the newest call in the dev outbox (its "press" action). */
export async function pressCall(app, digit) {
  const m = await outbox(app);
  if (!m || !m.callback_url) throw new Error(`no call in the outbox: ${JSON.stringify(m)}`);
  return call(app, `/api/dev/outbox/${m.seq}/press`, { digit });
}

/**
 * The "Call again" path on a page waiting for a call: another key fails the
 * call (410 at the next poll, "Call again" shown), a new call is placed, and
 * # on it passes.
 */
export async function failThenPassCall(page, app) {
  assert.equal((await pressCall(app, '1')).status, 200);
  await page.getByRole('button', { name: 'Call again' }).waitFor();
  assert.match(await page.textContent('#call-err'), /Call again/);
  await page.getByRole('button', { name: 'Call again' }).click();
  await page.waitForFunction(() => document.querySelector('#call-again').hidden);
  assert.equal((await pressCall(app, '#')).status, 200);
}

export async function lastCode(app, to) {
  const m = await outbox(app, to);
  const code = m && m.body.match(/\b\d{6}\b/);
  if (!code) throw new Error(`no code in the outbox: ${JSON.stringify(m)}`);
  return code[0];
}

/** A 6-digit code that is surely not `code`. */
export function wrongCode(code) {
  return String((Number(code) + 1) % 1_000_000).padStart(6, '0');
}

/** axe-core on the page as it stands: the serious and critical violations. */
export async function axe(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** The id of the focused element. */
export function focused(page) {
  return page.evaluate(() => document.activeElement && document.activeElement.id);
}

/** Calls the JSON API from the test (not the page). */
export async function call(app, path, body, headers = {}) {
  const r = await fetch(`${app.base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await r.json(); } catch { /* empty */ }
  return { status: r.status, data, headers: r.headers };
}

/** Waits for the step heading (h2) with this text. */
export async function heading(page, text) {
  const h = page.getByRole('heading', { level: 2, name: text });
  await h.waitFor();
  return h;
}

/** Fails the test on any CSP violation or script error the page reported. */
export function clean(page) {
  assert.deepEqual(page.problems, [], 'no CSP violation or script error on the page');
}
