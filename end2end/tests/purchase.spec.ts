import { expect, test } from "@playwright/test";
import { register, settle, uniqueEmail, visit } from "./helpers";

// Buying credits through the built-in sandbox: the same signed webhook path as Stripe.
// Runs with JavaScript (the wallet updates itself) and without (the page reloads itself).
test("buy $10 in the sandbox: a declined card adds nothing, the test card adds 1,000 credits", async ({ page }, testInfo) => {
  await register(page, testInfo, "Buyer", uniqueEmail("buyer"));
  await expect(page).toHaveURL(/\/dialer$/);
  await visit(page, "/wallet", testInfo);
  await expect(page.getByTestId("balance")).toHaveText("$0.00");

  await page.getByRole("button", { name: "Buy $10 (1,000 credits)" }).click();
  await expect(page).toHaveURL(/\/sandbox\/checkout\/cs_test_[0-9a-f]+$/);
  await settle(page, testInfo);
  await expect(page.getByRole("note")).toContainText("SANDBOX");
  await expect(page.getByRole("heading", { name: "Pay $10.00 for 1,000 credits" })).toBeVisible();

  // Declined: a clear message, still on the checkout page, nothing credited.
  await page.getByLabel("Card number").fill("4000 0000 0000 0002");
  await page.getByRole("button", { name: "Pay $10.00" }).click();
  await expect(page.getByText("Your card was declined.")).toBeVisible();
  await expect(page).toHaveURL(/\/sandbox\/checkout\//);
  await settle(page, testInfo);

  // The success card: back to the wallet, which shows the credits once the webhook lands.
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Pay $10.00" }).click();
  await expect(page).toHaveURL(/\/wallet\?checkout=cs_test_/);
  await expect(page.getByText("Payment complete: 1,000 credits ($10.00) added.")).toBeVisible({ timeout: 20_000 });
  await expect(page.getByTestId("balance")).toHaveText("$10.00");
  await expect(page.locator(".balance-credits")).toHaveText("1,000 credits");

  // One purchase in the history, with its receipt naming the payment.
  await visit(page, "/wallet", testInfo);
  await expect(page.getByTestId("history-row")).toHaveCount(1);
  await page.getByRole("link", { name: "Receipt" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Receipt" })).toBeVisible();
  await expect(page.getByTestId("receipt-amount")).toHaveText("$10.00");
  await expect(page.getByTestId("receipt-reference")).toContainText("cs_test_");
});
