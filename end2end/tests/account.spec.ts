import { expect, Page, TestInfo, test } from "@playwright/test";
import { PASSWORD, register, settle, uniqueEmail, visit } from "./helpers";

const NEW_PASSWORD = "another long passphrase";

async function logIn(page: Page, testInfo: TestInfo, email: string, password: string) {
  await visit(page, "/login", testInfo);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

// Runs in both projects: with JavaScript (hydrated app) and without (plain forms and redirects).
test("change the password from the account page, then sign in with the new one", async ({ page }, testInfo) => {
  const email = uniqueEmail("account-password");
  await register(page, testInfo, "Ada Lovelace", email);
  await expect(page).toHaveURL(/\/dialer$/);
  await settle(page, testInfo);

  // The user menu leads to the account page.
  await page.getByTestId("user-menu").click();
  await page.getByTestId("account-link").click();
  await expect(page.getByRole("heading", { level: 1, name: "Your account" })).toBeVisible();
  await expect(page.getByTestId("account-email")).toHaveText(email);
  await expect(page.getByTestId("sessions")).toContainText("(this session)");
  await settle(page, testInfo);

  // A wrong current password is refused with a clear message.
  await page.getByLabel("Current password").fill("not my password");
  await page.getByLabel("New password").fill(NEW_PASSWORD);
  await page.getByTestId("change-password").click();
  await expect(page.getByText("that is not your current password")).toBeVisible();
  await settle(page, testInfo);

  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill(NEW_PASSWORD);
  await page.getByTestId("change-password").click();
  await expect(page.getByTestId("password-changed")).toBeVisible();

  // Signed out, the old password no longer works and the new one does.
  await page.context().clearCookies();
  await logIn(page, testInfo, email, PASSWORD);
  await expect(page.getByText("the email or password is incorrect")).toBeVisible();
  await logIn(page, testInfo, email, NEW_PASSWORD);
  await expect(page).toHaveURL(/\/dialer$/);
});

test("delete the account: it is gone and the address can register again", async ({ page }, testInfo) => {
  const email = uniqueEmail("account-delete");
  await register(page, testInfo, "Grace Hopper", email);
  await expect(page).toHaveURL(/\/dialer$/);

  await visit(page, "/account", testInfo);
  await expect(page.getByTestId("download-data")).toHaveAttribute("href", "/account-data.json");
  await page.getByLabel("Your password").fill(PASSWORD);
  await page.getByTestId("delete-account").click();
  await expect(page).toHaveURL(/\/login$/);

  // Nobody is signed in any more, and the old password opens nothing.
  await page.goto("/account");
  await expect(page).toHaveURL(/\/login\?next=%2Faccount$/);
  await logIn(page, testInfo, email, PASSWORD);
  await expect(page.getByText("the email or password is incorrect")).toBeVisible();

  await register(page, testInfo, "Grace Again", email);
  await expect(page).toHaveURL(/\/dialer$/);
});
