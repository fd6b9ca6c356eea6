// Browser tests of `relaykit dialog`: the configuration page served by the real binary, driven
// in Debian's chromium by playwright-core, against the project's real Postfix + Dovecot.
//
// Environment: RELAYKIT_STATE (the test servers' state dir, with servers.env), RELAYKIT_BIN
// (default: $CARGO_TARGET_DIR or <repo>/target, then debug/relaykit), CHROMIUM (default
// /usr/bin/chromium), RK_SCREENS (default <repo>/target/browser-screens).
// Every wait is bounded; nothing sleeps.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
const BIN = process.env.RELAYKIT_BIN || path.join(targetDir, 'debug', 'relaykit');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENS = process.env.RK_SCREENS || path.join(repo, 'target', 'browser-screens');
const WAIT = 15_000; // the bound on any one wait for the page
const URL_WAIT = 10_000; // the bound on the dialog printing its URL

function serversEnv() {
  const state = process.env.RELAYKIT_STATE;
  assert.ok(state, 'RELAYKIT_STATE must name the test servers\' state dir (source tests/servers/env.sh)');
  const env = {};
  for (const line of fs.readFileSync(path.join(state, 'servers.env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  for (const k of ['RK_DOVECOT_STARTTLS_PORT', 'RK_USER', 'RK_PASS', 'RK_BAD_PASS', 'RK_CA_FILE', 'RK_TLS_NAME',
    'RK_RELAY_RCPT']) {
    assert.ok(env[k], `servers.env has no ${k}`);
  }
  return env;
}

const S = serversEnv();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-dialog-'));
// A key for this run only, given the way the library reads it (RELAYKIT_KEY).
const KEY = `bt${randomBytes(3).toString('hex')}:${randomBytes(32).toString('base64')}`;
const running = new Set();

/** Starts `relaykit dialog FILE --listen 127.0.0.1:0 ARGS...` and reads its URL (bounded). */
async function startDialog(file, args = []) {
  const env = { ...process.env, RELAYKIT_KEY: KEY, NO_COLOR: '1' };
  delete env.RELAYKIT_KEY_FILE;
  const proc = spawn(BIN, [...args, 'dialog', file, '--listen', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no URL within ${URL_WAIT} ms; stderr: ${stderr}`)), URL_WAIT);
    proc.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl).trim());
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relaykit dialog exited with ${code} before printing its URL; stderr: ${stderr}`));
    });
  });
  const m = /^http:\/\/127\.0\.0\.1:(\d+)\/#token=([0-9a-f]{64})$/.exec(url);
  assert.ok(m, `the first line is the page's URL with its token: ${url}`);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    url,
    port: Number(m[1]),
    token: m[2],
    stderr: () => stderr,
    /** SIGTERM, then the exit code (bounded). */
    async stop() {
      proc.kill('SIGTERM');
      const r = await Promise.race([exited, new Promise((res) => setTimeout(() => res(null), 5000))]);
      running.delete(proc);
      assert.ok(r, 'relaykit dialog stops within 5 s of SIGTERM');
      return r;
    },
  };
}

/** A plain HTTP request with whatever headers the test wants (fetch forbids setting Host). */
function request(port, { method = 'GET', urlPath = '/api/profile', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, timeout: WAIT }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

fs.mkdirSync(SCREENS, { recursive: true });
async function screenshot(page, name) {
  const file = path.join(SCREENS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const size = fs.statSync(file).size;
  assert.ok(size > 1000, `screenshot ${file} is not empty (${size} bytes)`);
}

let context;
let dialog;
const profile = path.join(tmp, 'profile.json');
const pageErrors = [];

async function openPage(url, viewport = { width: 1000, height: 900 }) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  await page.setViewportSize(viewport);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    // Chromium logs every 4xx; a 422 is the API's answer to an invalid form, which tests provoke.
    if (m.type() === 'error' && !/status of 422/.test(m.text())) pageErrors.push(m.text());
  });
  await page.goto(url);
  await page.locator('#status').filter({ hasText: /Profile loaded|New profile/ }).waitFor();
  return page;
}

/** Fills the form for Dovecot's STARTTLS submission port with the test CA. */
async function fillDovecot(page, { username = S.RK_USER, password = S.RK_PASS } = {}) {
  await page.getByLabel('Server', { exact: true }).fill(S.RK_TLS_NAME);
  await page.getByLabel('This server requires an encrypted connection').check();
  await page.getByLabel('Port', { exact: true }).fill(S.RK_DOVECOT_STARTTLS_PORT);
  await page.getByLabel('Requires authentication').check();
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.locator('#advanced > summary').click();
  await page.getByLabel(/CA file/).fill(S.RK_CA_FILE);
}

async function runTest(page) {
  await page.getByRole('button', { name: 'Test' }).click();
  await page.locator('#status').filter({ hasText: /^Test (passed|failed|could not run)/ }).waitFor();
}

describe('relaykit dialog in chromium', { timeout: 120_000 }, () => {
  before(async () => {
    assert.ok(fs.existsSync(BIN), `the relaykit binary is built: ${BIN}`);
    assert.ok(fs.existsSync(CHROMIUM), `chromium is installed: ${CHROMIUM} (apt-get install -y chromium)`);
    context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    dialog = await startDialog(profile);
  });

  after(async () => {
    if (context) await context.close();
    for (const p of running) p.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the page and its API refuse requests without the token, or from a foreign Host or Origin', async () => {
    const host = `127.0.0.1:${dialog.port}`;
    const auth = { 'X-Relaykit-Token': dialog.token };
    const ok = await request(dialog.port, { headers: auth });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).exists, false);
    const none = await request(dialog.port);
    assert.equal(none.status, 403, 'no token');
    const wrong = await request(dialog.port, { headers: { 'X-Relaykit-Token': 'f'.repeat(64) } });
    assert.equal(wrong.status, 403, 'a wrong token');
    const post = await request(dialog.port, {
      method: 'POST', urlPath: '/api/save', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ profile: { server: 'evil.example' } }),
    });
    assert.equal(post.status, 403, 'a save without the token');
    assert.equal(fs.existsSync(profile), false, 'and nothing was written');
    const rebound = await request(dialog.port, { headers: { ...auth, Host: `evil.example:${dialog.port}` } });
    assert.equal(rebound.status, 421, 'a foreign Host (DNS rebinding)');
    const foreign = await request(dialog.port, { headers: { ...auth, Host: host, Origin: 'http://evil.example' } });
    assert.equal(foreign.status, 403, 'a foreign Origin');
    const own = await request(dialog.port, { headers: { ...auth, Origin: `http://${host}` } });
    assert.equal(own.status, 200, 'the page\'s own Origin');
    const index = await request(dialog.port, { urlPath: '/' });
    assert.equal(index.status, 200);
    assert.match(index.headers['content-security-policy'], /default-src 'self'/);
    assert.match(index.headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(index.headers['x-frame-options'], 'DENY');
    assert.equal(index.headers['cache-control'], 'no-store');
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.equal((await request(dialog.port, { urlPath: '/etc/passwd' })).status, 404);
  });

  test('the form: Server required, Port follows the encryption box and stays when typed', async () => {
    const page = await openPage(dialog.url);
    assert.equal(await page.title(), 'SMTP Server Configuration');
    await page.getByRole('heading', { name: 'SMTP Server Configuration' }).waitFor();
    for (const label of ['Server', 'Port', 'This server requires an encrypted connection', 'Requires authentication',
      'User name', 'Password', 'Encrypted', 'Log on using NTLM authentication']) {
      assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `a control labelled "${label}"`);
    }
    assert.equal(await page.getByRole('button', { name: 'Test' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Save' }).count(), 1);
    // A new profile: Server is required, and the core says so at the field.
    const server = page.getByLabel('Server', { exact: true });
    await page.locator('#msg-server').filter({ hasText: /required/ }).waitFor();
    assert.equal(await server.getAttribute('aria-invalid'), 'true');
    await server.fill('mail.example.test');
    await page.locator('#msg-server:empty').waitFor({ state: 'attached' });
    const port = page.getByLabel('Port', { exact: true });
    const encrypted = page.getByLabel('This server requires an encrypted connection');
    assert.equal(await port.inputValue(), '25');
    await encrypted.check();
    await page.waitForFunction(() => document.getElementById('port').value === '465', null, { timeout: WAIT });
    await screenshot(page, '01-port-465-when-encrypted');
    await encrypted.uncheck();
    await page.waitForFunction(() => document.getElementById('port').value === '25', null, { timeout: WAIT });
    await port.fill('2525');
    for (const box of ['check', 'uncheck', 'check']) {
      const answered = page.waitForResponse((r) => r.url().endsWith('/api/validate'));
      await encrypted[box]();
      await answered;
      assert.equal(await port.inputValue(), '2525', `a typed port stays when the box is ${box}ed`);
    }
    // Cleared, and left with Tab: the port is the default again (465, the box being checked).
    await port.fill('');
    await port.press('Tab');
    await page.waitForFunction(() => document.getElementById('port').value === '465', null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'encrypted_connection', 'Tab order');
    // Requires authentication enables User name and Password; NTLM disables them again.
    assert.equal(await page.getByLabel('User name').isDisabled(), true);
    await page.getByLabel('Requires authentication').check();
    assert.equal(await page.getByLabel('User name').isDisabled(), false);
    assert.equal(await page.getByLabel('Password', { exact: true }).isDisabled(), false);
    await page.getByLabel('Log on using NTLM authentication').check();
    assert.equal(await page.getByLabel('User name').isDisabled(), true);
    assert.equal(await page.getByLabel('Password', { exact: true }).isDisabled(), true);
    // The advanced fields are folded away until asked for.
    assert.equal(await page.getByLabel(/CA file/).isVisible(), false);
    await page.locator('#advanced > summary').click();
    assert.equal(await page.getByLabel(/CA file/).isVisible(), true);
    await screenshot(page, '02-form-filled');
    await page.close();
  });

  test('Test against Postfix + Dovecot STARTTLS shows the stages, SCRAM-SHA-256 and a verified certificate',
    async () => {
      const page = await openPage(dialog.url);
      await fillDovecot(page);
      await runTest(page);
      assert.equal(await page.locator('#status').textContent(), 'Test passed.');
      const stages = await page.locator('#timeline li').evaluateAll((lis) => lis.map((li) => ({
        name: li.querySelector('.stage').textContent,
        ms: li.querySelector('.ms').textContent,
        width: li.querySelector('.bar').style.width,
        ok: li.className,
      })));
      const names = stages.map((s) => s.name);
      for (const n of ['connect', 'greeting', 'ehlo', 'tls', 'auth', 'quit']) assert.ok(names.includes(n), names.join());
      assert.ok(names.indexOf('tls') < names.indexOf('auth'), 'TLS before AUTH');
      for (const s of stages) {
        assert.match(s.ms, /^\d+\.\d ms ok$/);
        assert.match(s.width, /^\d+(\.\d+)?%$/);
        assert.equal(s.ok, 'ok');
      }
      // The bars are scaled by ms: the longest stage has the full bar.
      assert.ok(stages.some((s) => s.width === '100%'), JSON.stringify(stages));
      const tls = await page.locator('#tls').textContent();
      assert.match(tls, /VersionTLSv1\.[23]/);
      assert.match(tls, /VerifiedYes/i);
      assert.match(tls, /SubjectO=relaykit tests, CN=localhost/);
      assert.match(tls, /Expires\d{4}-\d\d-\d\dT/);
      assert.equal(await page.locator('#auth-mechanism').textContent(), 'Mechanism: SCRAM-SHA-256');
      assert.match(await page.locator('#attempts').textContent(), /SCRAM-SHA-256: ok \(235\)/);
      assert.equal(await page.locator('#error-box').isVisible(), false);
      await screenshot(page, '03-test-passed');

      // A wrong password: the 535 hint is shown at the password field.
      await page.getByLabel('Password', { exact: true }).fill(S.RK_BAD_PASS);
      await runTest(page);
      const pw = page.getByLabel('Password', { exact: true });
      assert.match(await page.locator('#msg-password').textContent(), /535: user name or password rejected/);
      assert.equal(await pw.getAttribute('aria-invalid'), 'true');
      assert.match(await pw.getAttribute('aria-describedby'), /\bmsg-password\b/);
      assert.match(await page.locator('#status').textContent(), /^Test failed: 535/);
      assert.match(await page.locator('#timeline li.failed .stage').textContent(), /auth/);
      assert.match(await page.locator('#error').textContent(), /Reply535 5\.7\.8/);
      await screenshot(page, '04-wrong-password-hint');

      // Enter in a field runs Test too (keyboard use), and the hint goes once the password is right.
      await pw.fill(S.RK_PASS);
      await pw.press('Enter');
      await page.locator('#status').filter({ hasText: 'Test passed.' }).waitFor();
      assert.equal(await page.locator('#msg-password').textContent(), '');
      await page.close();
    });

  test('an RRT user name is expanded from --rrt, and is an error at its field without it', async () => {
    const rrtUser = '~ACC::%user%~';
    // Without a value for the tag: the core's RRT error, at the User name field.
    let page = await openPage(dialog.url);
    await fillDovecot(page, { username: rrtUser });
    await runTest(page);
    assert.match(await page.locator('#msg-username').textContent(), /~ACC::%user%~/);
    assert.equal(await page.getByLabel('User name').getAttribute('aria-invalid'), 'true');
    await screenshot(page, '05-rrt-undefined');
    await page.close();

    const withRrt = await startDialog(path.join(tmp, 'rrt-profile.json'), ['--rrt', `ACC::user=${S.RK_USER}`]);
    page = await openPage(withRrt.url);
    await fillDovecot(page, { username: rrtUser });
    await runTest(page);
    assert.equal(await page.locator('#status').textContent(), 'Test passed.');
    assert.equal(await page.locator('#auth-mechanism').textContent(), 'Mechanism: SCRAM-SHA-256');
    await screenshot(page, '06-rrt-user-from-flag');
    await page.close();
    const r = await withRrt.stop();
    assert.equal(r.code, 0, `exit 0 on SIGTERM (${JSON.stringify(r)})`);
    assert.ok(!withRrt.stderr().includes(S.RK_USER), 'the tag value is not printed');
  });

  test('Save then reload: asterisks shown, the envelope in the file, no plaintext anywhere in it', async () => {
    let page = await openPage(dialog.url);
    await fillDovecot(page);
    const encrypted = page.getByLabel('Encrypted', { exact: true });
    // An RRT in a password with Encrypted checked: the dialog's advice, from the core.
    await page.getByLabel('Password', { exact: true }).fill('~ACC::%pw%~');
    await encrypted.check();
    await page.locator('#warn-password').filter({ hasText: /Encrypted check box is cleared/ }).waitFor();
    await screenshot(page, '07-rrt-in-encrypted-password-warning');
    await encrypted.uncheck();
    await page.locator('#warn-password:empty').waitFor({ state: 'attached' });

    await page.getByLabel('Password', { exact: true }).fill(S.RK_PASS);
    await encrypted.check();
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('type'), 'password');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#status').filter({ hasText: /^Saved to / }).waitFor();
    const text = fs.readFileSync(profile, 'utf8');
    const saved = JSON.parse(text);
    assert.match(saved.password, /^enc:v1:bt[0-9a-f]{6}:/);
    assert.equal(saved.password_encrypted, true);
    assert.equal(saved.port, Number(S.RK_DOVECOT_STARTTLS_PORT));
    assert.ok(!text.includes(S.RK_PASS), 'no plaintext password in the file');
    assert.equal(fs.statSync(profile).mode & 0o777, 0o600, 'the profile file is owner-only');
    await page.close();

    page = await openPage(dialog.url);
    const pw = page.getByLabel('Password', { exact: true });
    assert.equal(await pw.inputValue(), '********', 'asterisks, as the dialog shows an encrypted password');
    assert.equal(await pw.getAttribute('type'), 'text');
    assert.equal(await page.getByLabel('Encrypted', { exact: true }).isChecked(), true);
    assert.equal(await page.getByLabel('Port', { exact: true }).inputValue(), S.RK_DOVECOT_STARTTLS_PORT);
    // The page never received the plaintext: not in the DOM, not in what the API sent.
    assert.ok(!(await page.content()).includes(S.RK_PASS));
    const api = await request(dialog.port, { headers: { 'X-Relaykit-Token': dialog.token } });
    assert.ok(!api.body.includes(S.RK_PASS) && !api.body.includes('enc:v1:'), 'the API sends the mask only');
    await screenshot(page, '08-reloaded-asterisks');
    // The kept envelope still authenticates; saving again (port changed) keeps it, untouched.
    await runTest(page);
    assert.equal(await page.locator('#status').textContent(), 'Test passed.');
    await page.getByLabel('Port', { exact: true }).fill(String(Number(S.RK_DOVECOT_STARTTLS_PORT)));
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#status').filter({ hasText: /^Saved to / }).waitFor();
    assert.equal(JSON.parse(fs.readFileSync(profile, 'utf8')).password, saved.password, 'the envelope is kept');
    await page.close();
  });

  test('an untrusted certificate: the hint at the CA file; opportunistic STARTTLS: a warning; the relay check',
    async () => {
      // The profile saved above: Dovecot's STARTTLS port, encrypted, with the test CA.
      const page = await openPage(dialog.url);
      assert.equal(await page.locator('#advanced').evaluate((d) => d.open), false);
      await page.locator('#advanced > summary').click();
      await page.getByLabel(/CA file/).fill('');
      await page.locator('#advanced > summary').click();
      await runTest(page);
      // The hint is at the field it concerns, which is unfolded to show it.
      assert.equal(await page.locator('#advanced').evaluate((d) => d.open), true);
      assert.match(await page.locator('#msg-tls_ca_file').textContent(), /not trusted: give its CA in tls_ca_file/);
      assert.equal(await page.getByLabel(/CA file/).getAttribute('aria-invalid'), 'true');
      assert.match(await page.locator('#timeline li.failed .stage').textContent(), /tls/);
      await screenshot(page, '10-untrusted-certificate-hint');

      await page.getByLabel('This server requires an encrypted connection').uncheck();
      await page.getByLabel('Requires authentication').uncheck();
      await page.getByLabel('From', { exact: true }).fill(S.RK_USER);
      await page.getByLabel('To', { exact: true }).fill(S.RK_RELAY_RCPT);
      await runTest(page);
      assert.match(await page.locator('#tls').textContent(), /Verifiedno: .*UnknownIssuer/);
      assert.match(await page.locator('#warnings').textContent(), /not verified/);
      assert.match(await page.locator('#relay-result').textContent(), /^Would not relay from .* 554 5\.7\.1/);
      assert.match(await page.locator('#status').textContent(), /^Test failed: the server would not relay: 554/);
      assert.equal(await page.getByLabel('Port', { exact: true }).inputValue(), S.RK_DOVECOT_STARTTLS_PORT);
      await screenshot(page, '11-opportunistic-warning-relay-check');
      await page.close();
    });

  test('readable on a narrow (360 px) window', async () => {
    const page = await openPage(dialog.url, { width: 360, height: 740 });
    await runTest(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at 360 px (${overflow} px too wide)`);
    await screenshot(page, '09-narrow-360');
    await page.close();
  });

  test('an invalid profile file: the core\'s error at its field, or under the form for a key it does not show',
    async () => {
      const bad = path.join(tmp, 'bad.json');
      fs.writeFileSync(bad, JSON.stringify({ server: 'mail.example.test', port: 70000 }));
      const d = await startDialog(bad);
      let page = await openPage(d.url);
      assert.match(await page.locator('#msg-port').textContent(), /70000 is out of range/);
      assert.equal(await page.getByLabel('Port', { exact: true }).getAttribute('aria-invalid'), 'true');
      await page.close();
      fs.writeFileSync(bad, JSON.stringify({ server: 'mail.example.test', prot: 25 }));
      page = await openPage(d.url);
      assert.match(await page.locator('#msg-form').textContent(), /\$\.prot: unknown field `prot`/);
      // Save refuses it too, and leaves the file as it was.
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('#status').filter({ hasText: /^Not saved: \$\.prot/ }).waitFor();
      assert.deepEqual(JSON.parse(fs.readFileSync(bad, 'utf8')), { server: 'mail.example.test', prot: 25 });
      await screenshot(page, '12-invalid-file');
      // Stopped while the page is open (its connection kept alive): still a clean exit.
      const r = await d.stop();
      assert.equal(r.code, 0, JSON.stringify(r));
      await page.close();
    });

  test('no script error or CSP violation on the page, and SIGTERM stops the dialog with 0', async () => {
    assert.deepEqual(pageErrors, []);
    const r = await dialog.stop();
    assert.equal(r.code, 0, JSON.stringify(r));
  });
});
