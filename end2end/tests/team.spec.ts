import { expect, test } from "@playwright/test";
import { buyTenDollars, jsEnabled, PASSWORD, register, settle, uniqueEmail, visit } from "./helpers";

// An admin invites a colleague; the colleague follows the link, registers
// from it with the invited email, joins, and dials on the team's wallet.
// The browser-test server runs without SMTP_URL (scripts/test.sh), so the
// link comes from the settings page, where it is shown once right after
// inviting (the "copy the link" path); the mailed link is followed in the
// API tests (server/tests/api/teams.rs), which have an SMTP sink.

test("an admin invites a colleague, who registers from the link, joins and dials", async ({ browser, page }, testInfo) => {
  const colleagueEmail = uniqueEmail("colleague");
  await register(page, testInfo, "Team Owner", uniqueEmail("owner"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);

  await visit(page, "/settings", testInfo);
  const members = page.locator("#members");
  await members.getByLabel("Email", { exact: true }).fill(colleagueEmail);
  await members.getByLabel("Role", { exact: true }).selectOption("admin");
  await members.getByRole("button", { name: "Send invitation" }).click();
  const link = page.getByTestId("invite-link");
  await expect(link).toHaveValue(/\/invite\/[0-9a-f]{64}$/);
  const invitation = page.getByTestId("invitations").locator(`tr[data-email="${colleagueEmail}"]`);
  await expect(invitation.getByTestId("invitation-status")).toHaveAttribute("data-status", "pending");
  const url = new URL(await link.inputValue());

  // The colleague, in their own browser.
  const context = await browser.newContext({
    baseURL: testInfo.project.use.baseURL ?? process.env.PB_BASE_URL ?? "http://127.0.0.1:3000",
    javaScriptEnabled: jsEnabled(testInfo),
  });
  const colleague = await context.newPage();
  await colleague.goto(url.pathname);
  await settle(colleague, testInfo);
  await expect(colleague.getByTestId("invitation-intro")).toContainText(`Team Owner invites ${colleagueEmail}`);
  await expect(colleague.getByLabel("Email")).toHaveValue(colleagueEmail);
  await colleague.getByLabel("Your name").fill("Col League");
  await colleague.getByLabel("Password").fill(PASSWORD);
  await colleague.getByRole("button", { name: "Create account and join" }).click();
  await expect(colleague).toHaveURL(/\/dialer$/);
  await settle(colleague, testInfo);
  await expect(colleague.getByTestId("org-switcher").locator("option:checked")).toHaveText("Team Owner's organization");

  // The link worked once.
  await colleague.goto(url.pathname);
  await expect(colleague.getByTestId("invitation-problem")).toBeVisible();

  // The owner sees the colleague as an admin, and the invitation accepted.
  await visit(page, "/settings", testInfo);
  await expect(page.getByTestId("members").locator(`tr[data-email="${colleagueEmail}"]`)).toContainText("Col League");
  await expect(invitation.getByTestId("invitation-status")).toHaveAttribute("data-status", "accepted");

  if (jsEnabled(testInfo)) {
    // Dialing on the team's wallet (the live panel needs JavaScript).
    await visit(colleague, "/dialer", testInfo);
    await colleague.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
    await expect(colleague.locator("#quote")).toContainText("$0.02 per minute");
    await colleague.getByRole("button", { name: "Call", exact: true }).click();
    const panel = colleague.locator(".live-call");
    await expect(panel.locator(".live-status")).toHaveText("In progress", { timeout: 15_000 });
    await colleague.getByRole("button", { name: "End call" }).click();
    await expect(panel.locator(".live-status")).toHaveText(/Call ended/, { timeout: 15_000 });
  } else {
    // Without JavaScript: the colleague works in the team on the dialer page
    // (placing a call needs the browser's audio, so JavaScript).
    await colleague.goto("/dialer");
    await expect(colleague.getByTestId("org-switcher").locator("option:checked")).toHaveText("Team Owner's organization");
  }
  await context.close();
});
