import { expect, test } from "@playwright/test";
import { jsEnabled, register, settle, uniqueEmail } from "./helpers";

test("create a second organization, then switch back from the header", async ({ page }, testInfo) => {
  await register(page, testInfo, "Ada", uniqueEmail("orgs"));
  await expect(page).toHaveURL(/\/dialer$/);
  await settle(page, testInfo);

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Settings" })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).last().fill("Analytical Engines");
  await page.getByRole("button", { name: "Create organization" }).click();

  const switcher = page.getByTestId("org-switcher");
  await expect(switcher.locator("option:checked")).toHaveText("Analytical Engines");
  await expect(page.getByLabel("Name", { exact: true }).first()).toHaveValue("Analytical Engines");
  await settle(page, testInfo);

  await switcher.selectOption({ label: "Ada's organization" });
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page.getByTestId("org-switcher").locator("option:checked")).toHaveText("Ada's organization");
  if (jsEnabled(testInfo)) {
    await expect(page.getByLabel("Name", { exact: true }).first()).toHaveValue("Ada's organization");
  }
});
