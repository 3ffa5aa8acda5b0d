import { expect, Page, test } from "@playwright/test";
import { buyTenDollars, jsEnabled, register, subscribeTeam, uniqueEmail, visit } from "./helpers";

// Not a test: PB_SCREENSHOTS=<dir> saves pictures of the dialer through a
// simulated call (idle, ringing, in a call with the controls, after the call
// with the rating) for people to look at. Skipped otherwise.
const dir = process.env.PB_SCREENSHOTS;

async function state(page: Page): Promise<string> {
  return page.evaluate(() => (window as any).phonebooth.probe().state);
}

test("screenshots of the dialer through a call", async ({ page }, testInfo) => {
  test.skip(!dir || !jsEnabled(testInfo), "set PB_SCREENSHOTS=<dir> to take them");
  await page.setViewportSize({ width: 1100, height: 900 });
  await register(page, testInfo, "Grace Hopper", uniqueEmail("screens"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  await visit(page, "/dialer", testInfo);
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await expect(page.locator("#quote")).toContainText("$0.02 per minute");
  await page.screenshot({ path: `${dir}/1-idle.png`, fullPage: true });
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect.poll(() => state(page)).toBe("ringing");
  await page.screenshot({ path: `${dir}/2-ringing.png`, fullPage: true });
  await expect.poll(() => state(page), { timeout: 15_000 }).toBe("open");
  await page.getByRole("button", { name: "Keypad" }).click();
  await page.getByRole("button", { name: "Send 1" }).click();
  await page.getByRole("button", { name: "Mute", exact: true }).click();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${dir}/3-in-call.png`, fullPage: true });
  await page.getByRole("button", { name: "End call" }).click();
  await expect(page.locator(".live-call .live-status")).toHaveText("Call ended: You hung up", { timeout: 15_000 });
  await page.getByRole("button", { name: "4 out of 5" }).click();
  await expect(page.getByTestId("call-rating")).toHaveText("You rated this call 4 out of 5.");
  await page.screenshot({ path: `${dir}/4-after-call.png`, fullPage: true });
  await visit(page, "/calls", testInfo);
  await page.locator("tr", { hasText: "+44 20 7183 8750" }).getByTitle("How this call was charged").click();
  await expect(page.getByTestId("call-rating")).toBeVisible();
  await page.screenshot({ path: `${dir}/5-call-detail.png`, fullPage: true });
});

test("screenshots of a team: settings sections, the invitation, the account page, phone width", async ({ browser, page }, testInfo) => {
  test.skip(!dir || !jsEnabled(testInfo), "set PB_SCREENSHOTS=<dir> to take them");
  await page.setViewportSize({ width: 1100, height: 900 });
  await register(page, testInfo, "Grace Hopper", uniqueEmail("team-screens"));
  await expect(page).toHaveURL(/\/dialer$/);
  await subscribeTeam(page, testInfo, 3);
  await visit(page, "/settings", testInfo);
  const members = page.locator("#members");
  const invitee = uniqueEmail("invitee");
  await members.getByLabel("Email", { exact: true }).fill(invitee);
  await members.getByRole("button", { name: "Send invitation" }).click();
  const link = page.getByTestId("invite-link");
  await expect(link).toHaveValue(/\/invite\//);
  const invitePath = new URL(await link.inputValue()).pathname;
  await page.locator("#spending").getByLabel("Minutes per call (1–240)").fill("30");
  await page.locator("#spending").getByRole("button", { name: "Save call length" }).click();
  await expect(page.locator("#spending").getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  await visit(page, "/settings", testInfo);
  await page.screenshot({ path: `${dir}/6-settings.png`, fullPage: true });
  await visit(page, "/account", testInfo);
  await page.screenshot({ path: `${dir}/7-account.png`, fullPage: true });

  const stranger = await browser.newContext({ baseURL: testInfo.project.use.baseURL ?? process.env.PB_BASE_URL });
  const invited = await stranger.newPage();
  await invited.setViewportSize({ width: 390, height: 844 });
  await invited.goto(invitePath);
  await expect(invited.getByTestId("invitation-intro")).toBeVisible();
  await invited.screenshot({ path: `${dir}/8-invitation-phone.png`, fullPage: true });
  await stranger.close();

  await page.setViewportSize({ width: 390, height: 844 });
  await visit(page, "/dialer", testInfo);
  await page.screenshot({ path: `${dir}/9-dialer-phone.png`, fullPage: true });
  await visit(page, "/settings", testInfo);
  await page.screenshot({ path: `${dir}/10-settings-phone.png`, fullPage: true });
});

test("screenshots of the plan: free, checkout, active, grace banner, blocked dialer, portal", async ({ page }, testInfo) => {
  test.skip(!dir || !jsEnabled(testInfo), "set PB_SCREENSHOTS=<dir> to take them");
  await page.setViewportSize({ width: 1100, height: 900 });
  await register(page, testInfo, "Ada Lovelace", uniqueEmail("plan-screens"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  const billing = page.locator("#billing");
  const planIs = async (kind: string) =>
    expect(async () => {
      await visit(page, "/settings", testInfo);
      await expect(billing.getByTestId("plan-state")).toHaveAttribute("data-kind", kind, { timeout: 1_000 });
    }).toPass({ timeout: 20_000 });
  await visit(page, "/settings", testInfo);
  await billing.screenshot({ path: `${dir}/11-plan-free.png` });

  await billing.getByLabel(/^Seats/).fill("3");
  await billing.getByRole("button", { name: "Subscribe" }).click();
  await expect(page).toHaveURL(/\/sandbox\/checkout\//);
  await page.screenshot({ path: `${dir}/12-checkout-subscription.png`, fullPage: true });
  await page.getByLabel("Card number").fill("4000 0000 0000 0341");
  await page.getByRole("button", { name: /^Subscribe/ }).click();
  await planIs("active");
  await billing.screenshot({ path: `${dir}/13-plan-active.png` });

  await billing.getByRole("button", { name: "Advance to the next renewal" }).click();
  await planIs("grace");
  await page.screenshot({ path: `${dir}/14-payment-failed-grace.png`, fullPage: true });
  await billing.getByRole("button", { name: "Advance past the payment grace period" }).click();
  await planIs("blocked");
  await visit(page, "/dialer", testInfo);
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await page.screenshot({ path: `${dir}/15-blocked-dialer.png`, fullPage: true });

  await visit(page, "/settings", testInfo);
  await billing.getByRole("button", { name: "Update payment method" }).click();
  await expect(page).toHaveURL(/\/sandbox\/portal\//);
  await expect(page.getByTestId("portal-card")).toBeVisible();
  await page.screenshot({ path: `${dir}/16-portal.png`, fullPage: true });
});
