import { expect, test } from "@playwright/test";
import { PASSWORD, register, settle, uniqueEmail, visit } from "./helpers";

// Runs in both projects: with JavaScript (hydrated app) and without (plain forms and redirects).
test("register, see the dialer, log out, get sent to login, log in, come back", async ({ page }, testInfo) => {
  const email = uniqueEmail("journey");
  await register(page, testInfo, "Ada Lovelace", email);

  await expect(page).toHaveURL(/\/dialer$/);
  await expect(page.getByRole("heading", { level: 1, name: "Dialer" })).toBeVisible();
  await expect(page.getByTestId("org-switcher")).toContainText("Ada Lovelace's organization");
  await settle(page, testInfo);

  // Move between the pages of the organization.
  for (const [link, heading] of [["Wallet", "Wallet"], ["Calls", "Calls"], ["Settings", "Settings"]]) {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link }).click();
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
  }

  // Log out from the user menu.
  await page.getByTestId("user-menu").click();
  await page.getByTestId("logout").click();
  await expect(page).toHaveURL(/\/login$/);

  // A protected page now redirects to login, remembering where we were going.
  await page.goto("/wallet");
  await expect(page).toHaveURL(/\/login\?next=%2Fwallet$/);
  await settle(page, testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();

  await expect(page).toHaveURL(/\/wallet$/);
  await expect(page.getByRole("heading", { level: 1, name: "Wallet" })).toBeVisible();
});

test("a wrong password shows a clear error and keeps you on the login page", async ({ page }, testInfo) => {
  const email = uniqueEmail("wrong");
  await register(page, testInfo, "Grace Hopper", email);
  await expect(page).toHaveURL(/\/dialer$/);
  await page.context().clearCookies();

  await visit(page, "/login", testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("definitely not it");
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByText("the email or password is incorrect")).toBeVisible();
  await expect(page).toHaveURL(/\/login/);
});

test("a duplicate registration says the account already exists", async ({ page }, testInfo) => {
  const email = uniqueEmail("dup");
  await register(page, testInfo, "First", email);
  await expect(page).toHaveURL(/\/dialer$/);
  await page.context().clearCookies();

  await register(page, testInfo, "Second", email);
  await expect(page.getByText("an account with this email already exists")).toBeVisible();
});
