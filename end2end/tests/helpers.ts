import { expect, Page, TestInfo } from "@playwright/test";

export const PASSWORD = "a long enough passphrase";

/** A fresh email per test run, so journeys never collide. */
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

export function jsEnabled(testInfo: TestInfo): boolean {
  return testInfo.project.name === "javascript";
}

/** Navigates, then (with JavaScript on) waits until the WASM app has hydrated, so clicks are handled. */
export async function visit(page: Page, path: string, testInfo: TestInfo) {
  await page.goto(path);
  await settle(page, testInfo);
}

export async function settle(page: Page, testInfo: TestInfo) {
  if (jsEnabled(testInfo)) {
    await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  }
}

export async function register(page: Page, testInfo: TestInfo, name: string, email: string) {
  await visit(page, "/register", testInfo);
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
}

/** Buys $10 of credits through the sandbox checkout with Stripe's good test card. */
export async function buyTenDollars(page: Page, testInfo: TestInfo) {
  await visit(page, "/wallet", testInfo);
  await page.getByRole("button", { name: "Buy $10 (1,000 credits)" }).click();
  await expect(page).toHaveURL(/\/sandbox\/checkout\//);
  await settle(page, testInfo);
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Pay $10.00" }).click();
  await expect(page.getByTestId("balance")).toHaveText("$10.00", { timeout: 20_000 });
}

/** Subscribes the current organization to the Team plan (monthly) with `seats` seats
 * through the sandbox checkout and Stripe's good test card; back on /settings. */
export async function subscribeTeam(page: Page, testInfo: TestInfo, seats: number) {
  await visit(page, "/settings", testInfo);
  const billing = page.locator("#billing");
  await billing.getByLabel(/^Seats/).fill(String(seats));
  await billing.getByRole("button", { name: "Subscribe" }).click();
  await expect(page).toHaveURL(/\/sandbox\/checkout\//);
  await settle(page, testInfo);
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: /^Subscribe|^Pay/ }).click();
  await expect(page).toHaveURL(/\/settings/, { timeout: 20_000 });
  await settle(page, testInfo);
}
