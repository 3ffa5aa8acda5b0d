import { expect, test } from "@playwright/test";
import * as fs from "fs";
import * as path from "path";
import { buyTenDollars, jsEnabled, PASSWORD, register, settle, subscribeTeam, uniqueEmail, visit } from "./helpers";

// An admin invites a colleague; the colleague follows the link from the
// delivered mail, registers from it with the invited email, joins, and dials
// on the team's wallet (JavaScript on and off); the admin sets the colleague's monthly cap and the
// colleague's quote shows it. scripts/test.sh runs the server with a local
// SMTP sink that writes each delivered message to PB_MAIL_DIR as JSON.
// Without PB_MAIL_DIR (a server without SMTP_URL) the link shown on the
// settings page right after inviting is used instead: the "copy" path.

/** The invitation link in the mail delivered to `to`, waiting for it to arrive. */
async function mailedLink(to: string): Promise<string | null> {
  const dir = process.env.PB_MAIL_DIR;
  if (!dir) return null;
  let found: string | null = null;
  await expect
    .poll(
      () => {
        const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
        for (const file of files) {
          const mail = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
          if (mail.rcpt_tos.includes(to)) {
            found = mail.text.match(/https?:\/\/\S+\/invite\/[0-9a-f]{64}/)?.[0] ?? null;
          }
        }
        return found;
      },
      { timeout: 30_000, message: `the invitation mail to ${to}` },
    )
    .not.toBeNull();
  return found;
}

test("an admin invites a colleague, who registers from the link, joins and dials", async ({ browser, page }, testInfo) => {
  const colleagueEmail = uniqueEmail("colleague");
  await register(page, testInfo, "Team Owner", uniqueEmail("owner"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  // The Free plan has one seat: a team needs the Team plan.
  await subscribeTeam(page, testInfo, 3);

  await visit(page, "/settings", testInfo);
  const members = page.locator("#members");
  await members.getByLabel("Email", { exact: true }).fill(colleagueEmail);
  await members.getByLabel("Role", { exact: true }).selectOption("admin");
  await members.getByRole("button", { name: "Send invitation" }).click();
  const link = page.getByTestId("invite-link");
  await expect(link).toHaveValue(/\/invite\/[0-9a-f]{64}$/);
  const invitation = page.getByTestId("invitations").locator(`tr[data-email="${colleagueEmail}"]`);
  await expect(invitation.getByTestId("invitation-status")).toHaveAttribute("data-status", "pending");
  const shown = new URL(await link.inputValue());
  const mailed = await mailedLink(colleagueEmail);
  if (mailed) {
    // The mail carries the same link the page shows (built from PUBLIC_URL).
    expect(new URL(mailed).pathname).toBe(shown.pathname);
  }
  const url = mailed ? new URL(mailed) : shown;

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

  // Dialing on the team's wallet, from the live panel with JavaScript, from
  // the plain form (reloading to follow the call) without.
  await visit(colleague, "/dialer", testInfo);
  await colleague.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  if (jsEnabled(testInfo)) {
    await expect(colleague.locator("#quote")).toContainText("$0.02 per minute");
  }
  await colleague.getByRole("button", { name: "Call", exact: true }).click();
  const panel = colleague.locator(".live-call");
  if (jsEnabled(testInfo)) {
    await expect(panel.locator(".live-status")).toHaveText("In progress", { timeout: 15_000 });
  } else {
    await expect(async () => {
      await colleague.reload();
      await expect(panel.locator(".live-status")).toHaveText("In progress", { timeout: 500 });
    }).toPass({ timeout: 15_000 });
  }
  await colleague.getByRole("button", { name: "End call" }).click();
  const recent = colleague.locator(".recent-calls tbody tr").first();
  await expect(async () => {
    if (!jsEnabled(testInfo)) await colleague.reload();
    await expect(recent).toContainText("You hung up", { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });

  // The owner caps the colleague at $0.10 a month: five minutes of London.
  await visit(page, "/settings", testInfo);
  const row = page.locator("#spending").locator(`tr[data-member="${colleagueEmail}"]`);
  await row.getByLabel("Monthly cap for Col League").fill("0.10");
  await row.getByRole("button", { name: "Set cap" }).click();
  await expect(row.getByTestId("member-cap")).toHaveText("$0.10");
  // The quote is made on the server for a number in the address, so it shows
  // with JavaScript off too.
  await visit(colleague, `/dialer?number=${encodeURIComponent("+44 20 7183 8750")}`, testInfo);
  await expect(colleague.locator("#quote")).toContainText("Your monthly limit of $0.10 set by your organization");

  await context.close();
});
