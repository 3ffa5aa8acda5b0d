import { expect, test } from "@playwright/test";
import { buyTenDollars, jsEnabled, register, uniqueEmail, visit } from "./helpers";

// Calling with the simulated carrier, through the same signed Twilio webhook
// path as production: buy credits, dial, watch it ring and connect, hang up,
// see the exact charge in the call history and the wallet; a busy number
// costs nothing. The live panel needs JavaScript (server-sent events).

test("dial, watch it connect, hang up, and see the exact charge; a busy line costs nothing", async ({ page }, testInfo) => {
  test.skip(!jsEnabled(testInfo), "the live call panel is pushed over server-sent events");
  await register(page, testInfo, "Caller", uniqueEmail("caller"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);

  await visit(page, "/dialer", testInfo);
  await expect(page.getByLabel("I accept destinations above $1.00 per minute")).toHaveCount(0);
  const number = page.getByLabel("Number", { exact: true });
  // The keyboard and the keypad both type into the number.
  await number.pressSequentially("+44 20 7183 875");
  await page.getByRole("button", { name: "Key 0" }).click();
  await expect(number).toHaveValue("+44 20 7183 8750");
  const quote = page.locator("#quote");
  await expect(quote).toContainText("United Kingdom · United Kingdom landline");
  await expect(quote).toContainText("$0.02 per minute");
  await expect(quote).toContainText("You can talk about 60 minutes.");
  await expect(quote).toContainText("Calls are limited to 60 minutes by your organization.");

  await page.getByRole("button", { name: "Call", exact: true }).click();
  const panel = page.locator(".live-call");
  await expect(panel).toContainText("+44 20 7183 8750");
  await expect(panel.locator(".live-status")).toHaveText("Ringing…");
  await expect(panel.locator(".live-status")).toHaveText("In progress", { timeout: 15_000 });
  await expect(panel.locator(".timer")).toHaveText(/0:0[1-9]/, { timeout: 5_000 });
  await page.getByRole("button", { name: "End call" }).click();
  await expect(panel.locator(".live-status")).toHaveText("Call ended: You hung up", { timeout: 15_000 });
  await expect(panel.locator(".call-cost")).toHaveText("$0.02");

  // A busy line: it ends by itself, at no cost.
  await number.fill("+44 20 7183 0002");
  await expect(quote).toContainText("United Kingdom");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(panel.locator(".live-status")).toHaveText("Call ended: The line was busy", { timeout: 15_000 });
  await expect(panel.locator(".call-cost")).toHaveText("$0.00");

  // The history has both, with their costs; the wallet was charged exactly once.
  await visit(page, "/calls", testInfo);
  await expect(page.getByText("+44 20 7183 8750")).toBeVisible();
  await expect(page.getByText("+44 20 7183 0002")).toBeVisible();
  await visit(page, "/wallet", testInfo);
  await expect(page.getByTestId("balance")).toHaveText("$9.98");
});

test("the dialer explains numbers it cannot call", async ({ page }, testInfo) => {
  test.skip(!jsEnabled(testInfo), "the quote is asked for while typing");
  await register(page, testInfo, "Quoter", uniqueEmail("quoter"));
  await expect(page).toHaveURL(/\/dialer$/);
  await visit(page, "/dialer", testInfo);
  const quote = page.locator("#quote");
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await expect(quote).toContainText("Not enough credit");
  await expect(quote.getByRole("link", { name: "Buy credits" })).toHaveAttribute("href", "/wallet");
  await page.getByLabel("Number", { exact: true }).fill("+44 70 1234 5678");
  await expect(quote).toContainText("blocked");
  await page.getByLabel("Number", { exact: true }).fill("12");
  await expect(quote).toContainText("not a valid phone number");
  await expect(page.getByRole("button", { name: "Call", exact: true })).toBeDisabled();
});

test("without JavaScript: dial from the form, reload to follow the call, end it, see the charge", async ({ page }, testInfo) => {
  test.skip(jsEnabled(testInfo), "the JavaScript journey above covers the live panel");
  await register(page, testInfo, "Plain", uniqueEmail("plain"));
  await expect(page).toHaveURL(/\/dialer$/);
  // The server's answer is the quote: with no credit, the reason and where to buy.
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("Not enough credit");
  await expect(page.getByRole("alert").getByRole("link", { name: "Buy credits" })).toHaveAttribute("href", "/wallet");
  await buyTenDollars(page, testInfo);

  await visit(page, "/dialer", testInfo);
  // No quote while typing: expensive destinations are accepted with a tick up front.
  await expect(page.getByLabel("I accept destinations above $1.00 per minute")).not.toBeChecked();
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  await expect(page).toHaveURL(/\/dialer\??$/);
  const panel = page.locator(".live-call");
  await expect(panel).toContainText("+44 20 7183 8750");
  // The page shows the call as it was when rendered: reload until it connects.
  await expect(async () => {
    await page.reload();
    await expect(panel.locator(".live-status")).toHaveText("In progress", { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await page.getByRole("button", { name: "End call" }).click();
  await expect(page).toHaveURL(/\/dialer\??$/);
  const row = page.locator(".recent-calls tbody tr").first();
  await expect(async () => {
    await page.reload();
    await expect(row).toContainText("You hung up", { timeout: 500 });
  }).toPass({ timeout: 15_000 });
  await expect(row.locator(".amount")).toHaveText("$0.02");

  // Redial fills the number in (as E.164) from the link.
  await row.getByRole("link", { name: "Redial +44 20 7183 8750" }).click();
  await expect(page.getByLabel("Number", { exact: true })).toHaveValue("+442071838750");
  await visit(page, "/wallet", testInfo);
  await expect(page.getByTestId("balance")).toHaveText("$9.98");
});
