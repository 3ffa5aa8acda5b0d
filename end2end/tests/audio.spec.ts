import { expect, Page, test } from "@playwright/test";
import { buyTenDollars, jsEnabled, register, uniqueEmail, visit } from "./helpers";

// What a caller hears on the simulated carrier, measured in Chromium with a
// fake microphone that plays a 440 Hz tone (playwright.config.ts): ringback
// while ringing, the microphone's echo once answered, silence when muted,
// tones sent with the keypad, silence after hanging up, a busy tone for a busy
// line, and the charge and the rating afterwards. `window.phonebooth.probe()`
// (public/phone.js) reads the level of what the page plays.

type Probe = {
  state: string;
  muted: boolean;
  outputLevel: number;
  tone: string | null;
  digits: string;
  tonesSent: string;
};

/** RMS above this is a tone or the echo (both play at ≈0.08–0.3); below SILENT is silence. */
const AUDIBLE = 0.02;
const SILENT = 0.003;

async function probe(page: Page): Promise<Probe> {
  return page.evaluate(() => (window as any).phonebooth.probe());
}

/** Waits until the probe shows `wanted`, sampling every 50 ms. */
async function until(page: Page, what: string, wanted: (p: Probe) => boolean, timeout = 15_000) {
  await expect
    .poll(async () => {
      const p = await probe(page);
      return wanted(p) ? "yes" : `no: ${JSON.stringify(p)}`;
    }, { message: what, timeout, intervals: [50] })
    .toBe("yes");
}

test("a simulated call is heard: ringback, the echo, mute, tones, hang-up, then the charge and a rating", async ({ page }, testInfo) => {
  test.skip(!jsEnabled(testInfo), "audio needs JavaScript");
  await register(page, testInfo, "Listener", uniqueEmail("listener"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  await visit(page, "/dialer", testInfo);
  await page.waitForFunction(() => (window as any).phonebooth !== undefined);
  await expect(page.locator(".mic-status")).toBeVisible();

  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await expect(page.locator("#quote")).toContainText("$0.02 per minute");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(page.locator(".mic-status")).toHaveText("Microphone ready");

  // Ringing: the ringback tone is playing.
  await until(page, "ringback is audible", (p) => p.state === "ringing" && p.tone === "ringback" && p.outputLevel > AUDIBLE);
  const panel = page.locator(".live-call");
  await expect(panel.locator(".live-status")).toHaveText("Ringing…");

  // Answered: the ringback stops and the microphone comes back as the echo.
  await until(page, "the echo of the microphone is audible", (p) => p.state === "open" && p.tone === null && p.outputLevel > AUDIBLE);
  await expect(panel.locator(".live-status")).toHaveText("In progress");

  // Muted: the other side hears nothing, so nothing comes back.
  await page.getByRole("button", { name: "Mute", exact: true }).click();
  await expect(page.getByRole("button", { name: "Unmute" })).toHaveAttribute("aria-pressed", "true");
  await until(page, "muted means silence", (p) => p.muted && p.outputLevel < SILENT);
  await page.getByRole("button", { name: "Unmute" }).click();
  await until(page, "unmuted, the echo is back", (p) => !p.muted && p.outputLevel > AUDIBLE);

  // Tones from the keypad reach the other side.
  await page.getByRole("button", { name: "Keypad" }).click();
  for (const key of ["1", "2", "#"]) {
    await page.getByRole("button", { name: `Send ${key}` }).click();
  }
  await expect(page.getByTestId("digits-sent")).toHaveText("Sent: 12#");
  await until(page, "the tones went out on the connection", (p) => p.digits === "12#" && p.tonesSent === "12#");

  // Leaving the page mid-call asks first; staying keeps the call.
  const asked = new Promise<string>((resolve) =>
    page.once("dialog", async (dialog) => {
      resolve(dialog.type());
      await dialog.dismiss();
    }),
  );
  await page.evaluate(() => setTimeout(() => location.reload(), 0));
  expect(await asked).toBe("beforeunload");
  expect((await probe(page)).state).toBe("open");

  // Hanging up: silence at once, and the call ends on the server.
  await page.getByRole("button", { name: "End call" }).click();
  await until(page, "silence after hanging up", (p) => p.state === "ended" && p.outputLevel < SILENT, 2_000);
  await expect(panel.locator(".live-status")).toHaveText("Call ended: You hung up", { timeout: 15_000 });
  await expect(panel.locator(".call-cost")).toHaveText("$0.02");

  // The rating, asked for once the call has ended.
  await page.getByRole("button", { name: "4 out of 5" }).click();
  await expect(page.getByTestId("call-rating")).toHaveText("You rated this call 4 out of 5.");

  // A busy line: the busy tone, then silence, and no charge.
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 0002");
  await expect(page.locator("#quote")).toContainText("United Kingdom");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await until(page, "the busy tone is audible", (p) => p.state === "busy" && p.tone === "busy" && p.outputLevel > AUDIBLE);
  await until(page, "silence after the busy tone", (p) => p.state === "ended" && p.outputLevel < SILENT, 8_000);
  await expect(panel.locator(".call-cost")).toHaveText("$0.00");

  // The history has the charge; the call's page shows the rating.
  await visit(page, "/calls", testInfo);
  const row = page.locator("tr", { hasText: "+44 20 7183 8750" });
  await expect(row).toContainText("$0.02");
  await row.getByTitle("How this call was charged").click();
  await expect(page.getByTestId("call-cost")).toHaveText("$0.02");
  await expect(page.getByTestId("call-rating")).toHaveText("You rated this call 4 out of 5.");
  await visit(page, "/wallet", testInfo);
  await expect(page.getByTestId("balance")).toHaveText("$9.98");
});

test("without JavaScript: a call is placed silently, and its page takes a rating", async ({ page }, testInfo) => {
  test.skip(jsEnabled(testInfo), "the journey above covers the audio");
  await register(page, testInfo, "Quiet", uniqueEmail("quiet"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  await visit(page, "/dialer", testInfo);
  // No phone without JavaScript: no microphone status, the form still dials.
  await expect(page.locator(".mic-status")).toHaveCount(0);
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 0002");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  const row = page.locator(".recent-calls tbody tr").first();
  await expect(async () => {
    await page.reload();
    await expect(row).toContainText("busy", { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await visit(page, "/calls", testInfo);
  await page.locator("tr", { hasText: "+44 20 7183 0002" }).getByTitle("How this call was charged").click();
  await expect(page.getByTestId("call-rating")).toHaveText("Not rated yet.");
  await page.getByRole("button", { name: "3 out of 5" }).click();
  await expect(page.getByTestId("call-rating")).toHaveText("You rated this call 3 out of 5.");
});
