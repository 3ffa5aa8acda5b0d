import { expect, Page, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jsEnabled } from "./helpers";

// public/phone.js in Twilio mode against a scripted fake `Twilio.Device`
// (Twilio's servers cannot be reached from tests): the SDK's options (our
// silent sounds), the attempt passed to connect, ringing with and without
// early media, accept, mute, digits, warnings, error codes in words,
// disconnect, and the token refreshed by timer as well as tokenWillExpire.
// The page is served by Playwright itself (no Phonebooth server needed).

const ORIGIN = "http://phone.test";
const PHONE_JS = readFileSync(join(__dirname, "..", "..", "public", "phone.js"), "utf8");

// The fake SDK: records what phone.js asks of it; the test drives its events.
const FAKE_SDK = `
(function () {
  function Emitter() { this.handlers = {}; }
  Emitter.prototype.on = function (name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; };
  Emitter.prototype.emit = function (name) {
    var args = Array.prototype.slice.call(arguments, 1);
    (this.handlers[name] || []).forEach(function (fn) { fn.apply(null, args); });
  };
  var record = window.fakeTwilio = { devices: [], calls: [], updatedTokens: [] };
  function Call(params) {
    Emitter.call(this);
    this.params = params; this.muted = false; this.digits = ""; this.disconnected = false;
    record.calls.push(this);
  }
  Call.prototype = Object.create(Emitter.prototype);
  Call.prototype.mute = function (m) { this.muted = m; this.emit("mute", m, this); };
  Call.prototype.sendDigits = function (d) { this.digits += d; };
  Call.prototype.disconnect = function () { this.disconnected = true; this.emit("disconnect", this); };
  function Device(token, options) {
    Emitter.call(this);
    this.token = token; this.options = options; this.enabledSounds = {};
    var self = this;
    this.audio = {
      isOutputSelectionSupported: true,
      incoming: function (on) { self.enabledSounds.incoming = on; },
      outgoing: function (on) { self.enabledSounds.outgoing = on; },
      disconnect: function (on) { self.enabledSounds.disconnect = on; },
      setInputDevice: function (id) { self.input = id; return Promise.resolve(); },
      speakerDevices: { set: function (ids) { self.speakers = ids; return Promise.resolve(); } },
    };
    record.devices.push(this);
  }
  Device.prototype = Object.create(Emitter.prototype);
  Device.prototype.connect = function (options) {
    if (window.fakeConnectError) return Promise.reject(window.fakeConnectError);
    return Promise.resolve(new Call(options.params));
  };
  Device.prototype.updateToken = function (token) { this.token = token; record.updatedTokens.push(token); };
  window.Twilio = { Device: Device };
})();
`;

type Probe = { state: string; tone: string | null; outputLevel: number; muted: boolean; digits: string };

async function openPhone(page: Page, tokenTtlSecs: number): Promise<{ tokens: () => number }> {
  let issued = 0;
  await page.route(`${ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url());
    switch (url.pathname) {
      case "/dialer":
        return route.fulfill({ contentType: "text/html", body: "<!doctype html><title>phone</title><script src=\"/phone.js\"></script>" });
      case "/phone.js":
        return route.fulfill({ contentType: "text/javascript", body: PHONE_JS });
      case "/pkg/twilio.min.js":
        return route.fulfill({ contentType: "text/javascript", body: FAKE_SDK });
      case "/api/calls/voice_token": {
        expect(route.request().method()).toBe("POST");
        expect(route.request().postData()).toBe("org_id=org_1");
        issued += 1;
        return route.fulfill({
          contentType: "application/json",
          body: JSON.stringify({
            token: `token-${issued}`,
            identity: "member-u1",
            // Only the first token is short-lived: later ones last an hour.
            expires_at: Math.floor(Date.now() / 1000) + (issued === 1 ? tokenTtlSecs : 3600),
          }),
        });
      }
      default:
        return route.fulfill({ status: 404, body: "" });
    }
  });
  await page.goto(`${ORIGIN}/dialer`);
  await page.evaluate(() => {
    const w = window as any;
    w.events = [];
    w.phonebooth.start(JSON.stringify({ mode: "twilio", orgId: "org_1" }), (json: string) => w.events.push(JSON.parse(json)));
  });
  await expect.poll(() => events(page, "ready")).toHaveLength(1);
  return { tokens: () => issued };
}

async function events(page: Page, type: string): Promise<any[]> {
  return page.evaluate((t) => (window as any).events.filter((e: any) => e.type === t), type);
}

async function probe(page: Page): Promise<Probe> {
  return page.evaluate(() => (window as any).phonebooth.probe());
}

/** Fires an event on the newest fake call. */
async function callEmits(page: Page, name: string, ...args: unknown[]) {
  await page.evaluate(([n, a]) => {
    const calls = (window as any).fakeTwilio.calls;
    calls[calls.length - 1].emit(n, ...(a as unknown[]));
  }, [name, args] as const);
}

test.beforeEach(async ({}, testInfo) => {
  test.skip(!jsEnabled(testInfo), "phone.js is JavaScript");
});

test("the Twilio back end connects with the attempt, follows the call's events, and says errors in words", async ({ page }) => {
  await openPhone(page, 3600);
  const device = await page.evaluate(() => {
    const d = (window as any).fakeTwilio.devices[0];
    return { token: d.token, options: d.options, enabledSounds: d.enabledSounds };
  });
  expect(device.token).toBe("token-1");
  // Twilio's CDN sounds are replaced by our silent file and switched off.
  expect(Object.keys(device.options.sounds).sort()).toEqual(
    ["disconnect", "dtmf0", "dtmf1", "dtmf2", "dtmf3", "dtmf4", "dtmf5", "dtmf6", "dtmf7", "dtmf8", "dtmf9", "dtmfh", "dtmfs", "incoming", "outgoing"],
  );
  expect(new Set(Object.values(device.options.sounds))).toEqual(new Set(["/sounds/silence.wav"]));
  expect(device.enabledSounds).toEqual({ incoming: false, outgoing: false, disconnect: false });

  // Dial: the attempt from start_call goes to connect as a parameter.
  await page.evaluate(() => (window as any).phonebooth.dial("call_1", "att_123"));
  await expect.poll(() => page.evaluate(() => (window as any).fakeTwilio.calls.length)).toBe(1);
  expect(await page.evaluate(() => (window as any).fakeTwilio.calls[0].params)).toEqual({ attempt: "att_123" });
  expect((await probe(page)).state).toBe("connecting");

  // Ringing without early media: our ringback plays.
  await callEmits(page, "ringing", false);
  await expect.poll(async () => (await probe(page)).tone).toBe("ringback");
  await expect.poll(async () => (await probe(page)).outputLevel).toBeGreaterThan(0.02);
  // Answered: the ringback stops.
  await callEmits(page, "accept");
  await expect.poll(async () => (await probe(page)).state).toBe("open");
  expect((await probe(page)).tone).toBeNull();

  // Mute and digits reach the SDK's call.
  await page.evaluate(() => (window as any).phonebooth.mute(true));
  expect(await page.evaluate(() => (window as any).fakeTwilio.calls[0].muted)).toBe(true);
  expect((await probe(page)).muted).toBe(true);
  await page.evaluate(() => (window as any).phonebooth.sendDigits("9#x"));
  expect(await page.evaluate(() => (window as any).fakeTwilio.calls[0].digits)).toBe("9#");

  // Call-quality warnings come and go.
  await callEmits(page, "warning", "high-packet-loss");
  await callEmits(page, "warning-cleared", "high-packet-loss");
  const warnings = await events(page, "warning");
  expect(warnings[0]).toMatchObject({ name: "high-packet-loss", message: expect.stringContaining("losing audio") });
  expect(warnings[1]).toMatchObject({ name: "high-packet-loss", cleared: true });

  // An error code becomes words people can act on.
  await callEmits(page, "error", { code: 31005, message: "ConnectionError (31005)" });
  await callEmits(page, "error", { code: 53405, message: "ICE failed" });
  await callEmits(page, "error", { code: 31401, message: "Permission denied" });
  await callEmits(page, "error", { code: 99999, message: "Something new" });
  const errors = (await events(page, "error")).map((e) => e.message);
  expect(errors).toEqual([
    "The connection to the calling service was lost. Check your connection and try again.",
    "The audio connection failed (a firewall may be blocking it). Check your network.",
    "Microphone access was denied. Allow the microphone for this site in your browser settings.",
    "Something new",
  ]);

  // Hanging up disconnects the SDK's call: ended, and silence.
  await page.evaluate(() => (window as any).phonebooth.hangup());
  expect(await page.evaluate(() => (window as any).fakeTwilio.calls[0].disconnected)).toBe(true);
  await expect.poll(async () => (await probe(page)).state).toBe("ended");
  await expect.poll(async () => (await probe(page)).outputLevel).toBeLessThan(0.003);

  // Early media (answerOnBridge): the far end's own ringing, none of ours; a cancel ends it.
  await page.evaluate(() => (window as any).phonebooth.dial("call_2", "att_456"));
  await expect.poll(() => page.evaluate(() => (window as any).fakeTwilio.calls.length)).toBe(2);
  await callEmits(page, "ringing", true);
  await expect.poll(async () => (await probe(page)).state).toBe("ringing");
  expect((await probe(page)).tone).toBeNull();
  await callEmits(page, "cancel");
  await expect.poll(async () => (await probe(page)).state).toBe("ended");

  // A refused connect (an expired token) is reported, and the line ends.
  await page.evaluate(() => {
    (window as any).fakeConnectError = { code: 20104, message: "AccessTokenExpired" };
    (window as any).phonebooth.dial("call_3", "att_789");
  });
  await expect.poll(async () => (await events(page, "error")).map((e) => e.message)).toContain(
    "The calling session expired. Reload the page and try again.",
  );
});

test("the token is refreshed by a timer before it expires, and on tokenWillExpire", async ({ page }) => {
  // 61 s to live: phone.js refreshes 60 s before expiry, but waits at least 5 s.
  const phone = await openPhone(page, 61);
  expect(phone.tokens()).toBe(1);
  await expect.poll(() => phone.tokens(), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
  await expect.poll(() => page.evaluate(() => (window as any).fakeTwilio.updatedTokens)).toContain("token-2");
  // The SDK's own warning (it fires only once per Device) refreshes too.
  const before = phone.tokens();
  await page.evaluate(() => (window as any).fakeTwilio.devices[0].emit("tokenWillExpire"));
  await expect.poll(() => phone.tokens()).toBe(before + 1);
  await expect.poll(() => page.evaluate(() => (window as any).fakeTwilio.devices[0].token)).toBe(`token-${before + 1}`);
});
