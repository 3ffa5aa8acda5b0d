import { expect, Page, test } from "@playwright/test";
import { buyTenDollars, jsEnabled, register, uniqueEmail, visit } from "./helpers";

// Not a test: PB_BENCH=<calls> measures, on the simulated carrier, the time
// from clicking Call to hearing ringback (the page's own probe sees the
// ringback tone playing above the audible level), over that many calls, and
// the dialer page's transfer size (every response body and header the first
// load fetches; in Twilio mode only this). Prints p50/p99 and the bytes.
// Skipped otherwise.
//
//   PB_BENCH=20 PB_BASE_URL=http://127.0.0.1:3000 npx playwright test bench_audio --project=javascript
const calls = Number(process.env.PB_BENCH ?? 0);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The dialer's first load: bytes fetched, by resource. */
async function dialerTransfer(page: Page): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  const pending: Promise<void>[] = [];
  const onFinished = (request: import("@playwright/test").Request) => {
    pending.push(
      request.sizes().then((s) => {
        const path = new URL(request.url()).pathname;
        sizes[path] = (sizes[path] ?? 0) + s.responseBodySize + s.responseHeadersSize;
      }),
    );
  };
  page.on("requestfinished", onFinished);
  await page.goto("/dialer");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.waitForFunction(() => (window as any).phonebooth !== undefined);
  // In Twilio mode phone.js then loads the SDK; the live stream never idles.
  await page.waitForFunction(() => {
    const w = window as any;
    return w.phonebooth.probe().mode === "simulated" || typeof w.Twilio?.Device === "function";
  });
  await page.waitForTimeout(1_000);
  page.off("requestfinished", onFinished);
  await Promise.all(pending);
  return sizes;
}

test("bench: click Call to ringback, and the dialer's transfer size", async ({ page, context, browser, baseURL }, testInfo) => {
  test.skip(!calls || !jsEnabled(testInfo), "set PB_BENCH=<calls> to run the benchmark");
  test.setTimeout(60_000 + calls * 15_000);
  await register(page, testInfo, "Bench", uniqueEmail("bench"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);

  // A cold load of the dialer: a fresh context (empty cache), signed in.
  const fresh = await browser.newContext({ baseURL, storageState: await context.storageState() });
  const sizes = await dialerTransfer(await fresh.newPage());
  await fresh.close();
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  console.log(`dialer transfer: ${total} bytes`, JSON.stringify(sizes));

  await visit(page, "/dialer", testInfo);
  await page.waitForFunction(() => (window as any).phonebooth !== undefined);
  // Twilio mode (no Twilio to call here): the transfer size is all there is to measure.
  if ((await page.evaluate(() => (window as any).phonebooth.probe().mode)) !== "simulated") return;
  const number = page.getByLabel("Number", { exact: true });
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    await number.fill("+44 20 7183 8750");
    await expect(page.getByRole("button", { name: "Call", exact: true })).toBeEnabled();
    // Timed in the page: from the click to the first 10 ms sample with ringback audible.
    await page.evaluate(() => {
      const w = window as any;
      w.benchStart = 0;
      w.benchRingback = 0;
      const button = document.querySelector(".call-button")!;
      button.addEventListener("click", () => { w.benchStart = performance.now(); }, { once: true, capture: true });
      const timer = setInterval(() => {
        const p = w.phonebooth.probe();
        if (w.benchStart && p.tone === "ringback" && p.outputLevel > 0.02) {
          w.benchRingback = performance.now();
          clearInterval(timer);
        }
      }, 10);
    });
    await page.getByRole("button", { name: "Call", exact: true }).click();
    await page.waitForFunction(() => (window as any).benchRingback > 0, null, { timeout: 15_000 });
    times.push(await page.evaluate(() => (window as any).benchRingback - (window as any).benchStart));
    await page.getByRole("button", { name: /Cancel call|End call/ }).click();
    await expect(page.locator(".live-call .live-status")).toHaveText(/Call ended/, { timeout: 15_000 });
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(
    `click to ringback over ${calls} calls: p50 ${percentile(sorted, 50).toFixed(0)} ms, ` +
      `p99 ${percentile(sorted, 99).toFixed(0)} ms, min ${sorted[0].toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms`,
  );
});
