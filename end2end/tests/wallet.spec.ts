import { expect, test } from "@playwright/test";
import { register, uniqueEmail, visit } from "./helpers";

// Runs in both projects: with JavaScript (hydrated app) and without (plain forms and links).
// A new account has no money; the API tests (server/tests/api/wallet.rs) cover a wallet with history.

test("a new wallet is empty, and its history filters and explains bad input", async ({ page }, testInfo) => {
  await register(page, testInfo, "Ada", uniqueEmail("wallet"));
  await expect(page).toHaveURL(/\/dialer$/);
  await visit(page, "/wallet", testInfo);

  await expect(page.getByRole("heading", { level: 1, name: "Wallet" })).toBeVisible();
  await expect(page.getByTestId("balance")).toHaveText("$0.00");
  await expect(page.getByText("0 credits", { exact: true })).toBeVisible();
  await expect(page.getByTestId("available")).toHaveText("$0.00");
  await expect(page.getByTestId("history-empty")).toContainText("No transactions yet");
  await expect(page.getByTestId("spend-empty")).toBeVisible();
  await expect(page.getByTestId("low-balance-banner")).toHaveCount(0);

  // The filter form is a plain GET form: the filters land in the address.
  await page.getByLabel("Kind").selectOption({ label: "Purchase" });
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/\/wallet\?kind=purchase/);
  await expect(page.getByTestId("history-empty")).toHaveText("No transactions match these filters.");

  // A date that does not exist is explained, not silently ignored.
  await visit(page, "/wallet?from=2024-02-30", testInfo);
  await expect(page.getByTestId("history-error")).toContainText("enter the start date as YYYY-MM-DD");
  await expect(page.getByTestId("history-row")).toHaveCount(0);
});

test("an owner sets a low-balance alert and the banner follows it", async ({ page }, testInfo) => {
  await register(page, testInfo, "Grace", uniqueEmail("alert"));
  await expect(page).toHaveURL(/\/dialer$/);
  await visit(page, "/wallet", testInfo);
  await expect(page.getByTestId("low-balance-current")).toHaveText("The alert is off.");
  const threshold = page.getByLabel("Alert when available credit falls below");

  // Bad input: a clear error beside the field, nothing saved.
  await threshold.fill("five dollars");
  await page.getByRole("button", { name: "Save alert" }).click();
  await expect(page.getByText("enter an amount like 25 or 25.50")).toBeVisible();
  await expect(page.getByTestId("low-balance-current")).toHaveText("The alert is off.");

  // $5 on an empty wallet: the banner appears, here and on every other page.
  await visit(page, "/wallet", testInfo);
  await page.getByLabel("Alert when available credit falls below").fill("5");
  await page.getByRole("button", { name: "Save alert" }).click();
  await expect(page.getByTestId("low-balance-current")).toContainText("below $5.00");
  const banner = page.getByTestId("low-balance-banner");
  await expect(banner).toContainText("$0.00 available, below your alert of $5.00");
  await visit(page, "/calls", testInfo);
  await expect(banner).toBeVisible();
  await banner.getByRole("link", { name: "Add credits" }).click();
  await expect(page).toHaveURL(/\/wallet$/);

  // 0 turns it off again.
  await visit(page, "/wallet", testInfo);
  await page.getByLabel("Alert when available credit falls below").fill("0");
  await page.getByRole("button", { name: "Save alert" }).click();
  await expect(page.getByTestId("low-balance-current")).toHaveText("The alert is off.");
  await expect(banner).toHaveCount(0);
});
