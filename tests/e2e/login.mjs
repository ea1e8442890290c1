// End-to-end test of the OpenID login: a real OpenID provider (npm oidc-provider, its own login
// and consent pages) and real headless Chromium (Debian's, driven by playwright-core) against the
// web_login example. Run by .ci/run as `node tests/e2e/login.mjs` with WEB_LOGIN_BIN set to the
// built example. Everything listens on 127.0.0.1; every request to another host is aborted.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { chromium } from 'playwright-core';

const started = Date.now();
const BIN = process.env.WEB_LOGIN_BIN;
if (!BIN) throw new Error('WEB_LOGIN_BIN must name the built web_login example');
const TIMEOUT = 15000;
let passed = 0;
let failed = 0;
function check(what, ok, detail = '') {
  if (ok) passed += 1;
  else { failed += 1; console.error(`FAIL: ${what} ${detail}`); }
}

const freePort = () => new Promise((resolve) => {
  const server = createServer();
  server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
});

// The app's address must be known before the provider is built (its redirect URI).
const appPort = await freePort();
const providerPort = await freePort();
const appUrl = `http://127.0.0.1:${appPort}`;
const issuer = `http://127.0.0.1:${providerPort}`;
const CLIENT_SECRET = 'an e2e client secret that is long enough';

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'portcullis-web',
    client_secret: CLIENT_SECRET,
    redirect_uris: [`${appUrl}/auth/oauth/e2e/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  conformIdTokenClaims: false,
  cookies: { keys: ['portcullis e2e cookie key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: `${id}@example.com`, email_verified: true }),
  }),
});
const providerServer = provider.listen(providerPort, '127.0.0.1');

const dbDir = mkdtempSync(join(tmpdir(), 'portcullis-e2e-'));
const app = spawn(BIN, [], {
  env: {
    ...process.env,
    PORT: String(appPort),
    PUBLIC_URL: appUrl,
    OIDC_ISSUER: issuer,
    OIDC_CLIENT_ID: 'portcullis-web',
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_NAME: 'e2e',
    PORTCULLIS_DB: join(dbDir, 'e2e.db'),
    RUST_LOG: 'warn',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('web_login did not start')), TIMEOUT);
  app.stdout.on('data', (chunk) => { if (String(chunk).includes('listens on')) { clearTimeout(timer); resolve(); } });
  app.on('exit', (code) => reject(new Error(`web_login exited with ${code}`)));
});

let browser;
try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-gpu'],
  });
  const context = await browser.newContext();
  // Nothing may leave the machine (the provider's pages link a web font).
  await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  let callbackUrl = null;
  page.on('request', (request) => { if (request.url().includes('/auth/oauth/e2e/callback')) callbackUrl = request.url(); });

  // Sign in through the provider's own login and consent pages.
  const flowStart = Date.now();
  await page.goto(`${appUrl}/`);
  await page.click('#oidc');
  await page.waitForURL((url) => url.toString().startsWith(issuer));
  await page.fill('input[name="login"]', 'alice');
  await page.fill('input[name="password"]', 'any password: the dev login page takes any');
  await page.click('button[type="submit"]');
  await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached' });
  await page.click('button[type="submit"]');
  await page.waitForURL(`${appUrl}/account`);
  const flowMs = Date.now() - flowStart;
  check('landed on the protected page', page.url() === `${appUrl}/account`, page.url());
  check('the page shows the provider e-mail', (await page.textContent('#email')) === 'alice@example.com');
  check('the new account got the default role', (await page.textContent('#roles')) === 'viewer');
  check('and its permissions', (await page.textContent('#permissions')).includes('read:*'));
  const cookies = await context.cookies(appUrl);
  const session = cookies.find((c) => c.name === 'portcullis_session');
  check('the session cookie is HttpOnly and SameSite=Lax', session && session.httpOnly && session.sameSite === 'Lax');
  check('the flow cookie is gone', !cookies.some((c) => c.name === 'portcullis_oauth'));

  // Replaying the callback in the same browser is refused and changes nothing.
  check('the callback was seen', callbackUrl !== null);
  const replay = await page.goto(callbackUrl);
  check('a replayed callback is refused with 400', replay.status() === 400, String(replay.status()));
  // A browser asks for HTML: it gets a page, not a raw problem+json document.
  check('as an HTML page', (replay.headers()['content-type'] || '').startsWith('text/html'), replay.headers()['content-type']);
  check('which says why', (await page.textContent('#detail')) === 'no sign-in was started in this browser', await page.textContent('body'));
  check('and links back to sign-in', (await page.getAttribute('#sign-in', 'href')) === '/');
  await page.goto(`${appUrl}/account`);
  check('the session survives the refused replay', (await page.textContent('#email')) === 'alice@example.com');

  // Sign out: the session ends.
  await page.click('#logout');
  await page.waitForURL(`${appUrl}/`);
  await page.goto(`${appUrl}/account`);
  check('after sign-out the protected page sends us back', page.url() === `${appUrl}/`, page.url());

  // A callback in a browser that never started a sign-in (login CSRF) is refused.
  const stranger = await browser.newContext();
  await stranger.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  const strangerPage = await stranger.newPage();
  const forged = await strangerPage.goto(callbackUrl);
  check('a callback without its flow cookie is refused with 400', forged.status() === 400, String(forged.status()));
  check('as an HTML page too', (forged.headers()['content-type'] || '').startsWith('text/html'), forged.headers()['content-type']);
  check('and creates no session', !(await stranger.cookies(appUrl)).some((c) => c.name === 'portcullis_session'));

  // The password form of the same page, in the same browser.
  await page.fill('input[name="email"]', 'demo@example.com');
  await page.fill('input[name="password"]', 'demo-account-password');
  await page.click('#password button[type="submit"]');
  await page.waitForURL(`${appUrl}/account`);
  check('password sign-in lands on the protected page', (await page.textContent('#email')) === 'demo@example.com');
  console.log(`e2e: OpenID sign-in through the provider's pages took ${flowMs} ms`);
} catch (error) {
  failed += 1;
  console.error(`FAIL: ${error.stack || error}`);
} finally {
  if (browser) await browser.close();
  app.kill();
  providerServer.close();
  rmSync(dbDir, { recursive: true, force: true });
}
console.log(`e2e: whole test ${Date.now() - started} ms`);
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
