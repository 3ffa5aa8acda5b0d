import { expect, Page, TestInfo, test } from "@playwright/test";
import { buyTenDollars, jsEnabled, register, uniqueEmail, visit } from "./helpers";

// Spending controls: an owner sets the longest call and their own monthly
// cap on /settings, and the dialer's quote shows the shorter talk time and
// why. With JavaScript the forms answer in place; without, they post and
// the server sends the browser back to the settings page.

const LONDON = "+44 20 7183 8750";

async function quoteFor(page: Page, testInfo: TestInfo) {
  // The number in the address is quoted on the server, so the quote is there
  // with JavaScript off too.
  await visit(page, `/dialer?number=${encodeURIComponent(LONDON)}`, testInfo);
  return page.locator("#quote");
}

async function saved(page: Page, testInfo: TestInfo) {
  if (jsEnabled(testInfo)) {
    await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  } else {
    await expect(page).toHaveURL(/\/settings/);
  }
}

test("an owner limits call length and their cap, and the dialer's quote follows", async ({ page }, testInfo) => {
  await register(page, testInfo, "Grace Owner", uniqueEmail("spending"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);

  // $10 pays 500 minutes of London: the default 60-minute call decides.
  let quote = await quoteFor(page, testInfo);
  await expect(quote).toContainText("You can talk about 60 minutes.");

  await visit(page, "/settings", testInfo);
  const spending = page.locator("#spending");
  await spending.getByLabel("Minutes per call (1–240)").fill("15");
  await spending.getByRole("button", { name: "Save call length" }).click();
  await saved(page, testInfo);
  await visit(page, "/settings", testInfo);
  await expect(page.locator("#spending").getByLabel("Minutes per call (1–240)")).toHaveValue("15");

  quote = await quoteFor(page, testInfo);
  await expect(quote).toContainText("You can talk about 15 minutes.");
  await expect(quote).toContainText("Calls are limited to 15 minutes by your organization.");

  // A $0.10 monthly cap: five minutes of London.
  await visit(page, "/settings", testInfo);
  await page.locator("#spending").getByLabel("Monthly cap for Grace Owner").fill("0.10");
  await page.locator("#spending").getByRole("button", { name: "Set cap" }).click();
  await expect(page.locator("#spending").getByTestId("member-cap")).toHaveText("$0.10");

  quote = await quoteFor(page, testInfo);
  await expect(quote).toContainText("You can talk about 5 minutes.");
  await expect(quote).toContainText("Your monthly limit of $0.10 set by your organization leaves $0.10 this month.");

  // Both changes are in the audit trail.
  await visit(page, "/settings", testInfo);
  const trail = page.getByTestId("audit-trail");
  await expect(trail).toContainText("Each call is now limited to 15 minutes (was 60 minutes)");
  await expect(trail).toContainText("changed from no cap to $0.10");
});
