import { Browser, expect, Page, test, TestInfo } from "@playwright/test";
import { ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsEnabled, register, uniqueEmail, visit } from "./helpers";

// Twilio mode without Twilio: a second Phonebooth (the same binary and site
// the other journeys use) started here with Twilio settings and an API base
// nothing answers on. Twilio's servers are never reached; what is checked is
// ours: the Voice SDK is fetched on the dialer only, it loads and runs under
// our Content-Security-Policy with no violation, that policy lets it reach
// Twilio's voice hosts (and only in this mode), and without JavaScript the
// dialer says calling needs it.

const REPO = join(__dirname, "..", "..");
const BINARY = process.env.PB_BINARY ?? join(REPO, "target", "debug", "phonebooth");
const SITE = process.env.LEPTOS_SITE_ROOT ?? join(REPO, "target", "site");
const SDK = "/pkg/twilio.min.js";
const TWILIO_HOSTS = "https://*.twilio.com wss://*.twilio.com";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

let server: ChildProcess | undefined;
let base = "";

test.beforeAll(async () => {
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), "pb-twilio-mode-"));
  base = `http://127.0.0.1:${port}`;
  const log = openSync(join(data, "server.log"), "w");
  server = spawn(BINARY, [], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${data}/phonebooth.db?mode=rwc`,
      DATA_DIR: data,
      BIND_ADDR: `127.0.0.1:${port}`,
      PUBLIC_URL: base,
      LEPTOS_SITE_ROOT: SITE,
      SESSION_SECRET: "twilio-mode-browser-tests-session-secret",
      RUST_LOG: "warn",
      TWILIO_ACCOUNT_SID: "AC0123456789abcdef0123456789abcdef",
      TWILIO_AUTH_TOKEN: "browser-tests-auth-token",
      TWILIO_CALLER_ID: "+15005550006",
      TWILIO_API_BASE: "http://127.0.0.1:9",
      TWILIO_API_KEY_SID: "SK0123456789abcdef0123456789abcdef",
      TWILIO_API_KEY_SECRET: "browser-tests-api-key-secret",
      TWILIO_TWIML_APP_SID: "AP0123456789abcdef0123456789abcdef",
      // A private test deployment: the sandbox pays.
      ALLOW_SANDBOX_PAYMENTS_WITH_TWILIO: "1",
    },
    stdio: ["ignore", log, log],
  });
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    if (server.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the Twilio-mode server did not start (see ${data}/server.log)`);
});

test.afterAll(() => {
  server?.kill();
});

async function twilioPage(browser: Browser, testInfo: TestInfo): Promise<Page> {
  const context = await browser.newContext({ baseURL: base, javaScriptEnabled: jsEnabled(testInfo) });
  return context.newPage();
}

/** Records every CSP violation the page reports, from before its first script runs. */
async function watchViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const w = window as any;
    w.cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      consoleErrors.push(message.text());
    }
  });
  return async () => [...(await page.evaluate(() => (window as any).cspViolations as string[])), ...consoleErrors];
}

test("Twilio mode: the SDK loads on the dialer only, under our policy, which lets it reach Twilio", async ({ browser }, testInfo) => {
  test.skip(!jsEnabled(testInfo), "the SDK is loaded by JavaScript");
  const page = await twilioPage(browser, testInfo);
  const violations = await watchViolations(page);
  const sdkFetches: string[] = [];
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === SDK) sdkFetches.push(new URL(page.url()).pathname);
  });

  await register(page, testInfo, "Twilio Tester", uniqueEmail("twilio"));
  await expect(page).toHaveURL(/\/dialer$/);
  // Pages other than the dialer never fetch it (visited fresh, not from the dialer).
  await visit(page, "/wallet", testInfo);
  await visit(page, "/calls", testInfo);
  expect(await page.evaluate(() => typeof (window as any).Twilio)).toBe("undefined");
  const before = sdkFetches.length;

  const response = await page.goto("/dialer");
  const policy = response!.headers()["content-security-policy"];
  expect(policy).toContain(`connect-src 'self' ${TWILIO_HOSTS}`);
  await visit(page, "/dialer", testInfo);
  // phone.js loads the SDK, which defines Twilio.Device.
  await page.waitForFunction(() => typeof (window as any).Twilio?.Device === "function");
  expect(sdkFetches.length).toBeGreaterThan(before);
  expect(new Set(sdkFetches)).toEqual(new Set(["/dialer"]));

  // The SDK's Device runs under the policy: constructing one, as phone.js
  // does, fetches no sound from Twilio's CDN and breaks no rule.
  await page.evaluate(() => {
    const w = window as any;
    const silent: Record<string, string> = {};
    for (const name of ["incoming", "outgoing", "disconnect", "dtmf0", "dtmf1", "dtmf2", "dtmf3", "dtmf4", "dtmf5", "dtmf6", "dtmf7", "dtmf8", "dtmf9", "dtmfs", "dtmfh"]) {
      silent[name] = "/sounds/silence.wav";
    }
    // An unsigned token: the Device is only constructed, never registered.
    w.testDevice = new w.Twilio.Device("eyJhbGciOiJIUzI1NiJ9.e30.x", { sounds: silent, logLevel: "silent" });
  });
  // Its signalling host is allowed (the socket then fails for want of a network, not of a rule).
  await page.evaluate(() => {
    try { new WebSocket("wss://voice-js.roaming.twilio.com/signal"); } catch { /* blocked would show as a violation */ }
  });
  await page.waitForTimeout(1_000);
  expect(await violations()).toEqual([]);

  // The watcher works: a host outside the policy is reported.
  await page.evaluate(() => {
    try { new WebSocket("wss://example.com/"); } catch { /* reported below */ }
  });
  await expect.poll(violations).toContainEqual(expect.stringMatching(/^connect-src wss:\/\/example\.com/));
  expect((await violations()).filter((v) => !v.includes("wss://example.com"))).toEqual([]);
});

test("Twilio mode without JavaScript: the dialer says calling needs JavaScript and a microphone", async ({ browser }, testInfo) => {
  test.skip(jsEnabled(testInfo), "the JavaScript journey above covers the SDK");
  const page = await twilioPage(browser, testInfo);
  await register(page, testInfo, "Plain Twilio", uniqueEmail("twilio-plain"));
  await expect(page).toHaveURL(/\/dialer$/);
  await expect(page.getByRole("note")).toHaveText(/Calling needs JavaScript and a microphone/);
  await expect(page.getByRole("button", { name: /Call|Getting ready/ })).toBeDisabled();
});

test("the simulated mode: no Twilio hosts in the policy and no SDK on the dialer", async ({ page }, testInfo) => {
  test.skip(!jsEnabled(testInfo), "the SDK would be loaded by JavaScript");
  let sdkFetched = false;
  page.on("request", (request) => {
    if (new URL(request.url()).pathname === SDK) sdkFetched = true;
  });
  await register(page, testInfo, "Simulated", uniqueEmail("simulated"));
  await expect(page).toHaveURL(/\/dialer$/);
  const response = await page.goto("/dialer");
  expect(response!.headers()["content-security-policy"]).not.toContain("twilio.com");
  await visit(page, "/dialer", testInfo);
  await page.waitForFunction(() => (window as any).phonebooth?.probe().mode === "simulated");
  expect(sdkFetched).toBe(false);
});
