import { expect, Page, test, TestInfo } from "@playwright/test";
import { buyTenDollars, register, settle, subscribeTeam, uniqueEmail, visit } from "./helpers";

// The Team plan's lifecycle in the sandbox, through the same signed webhook
// and code paths Stripe mode uses, with JavaScript on and off: subscribe
// with seats and fill them; a renewal that fails (grace, then blocked, then
// paid); cancel and resume; pause and resume by itself. The sandbox's test
// clock moves the organization's billing time forward.

const billing = (page: Page) => page.locator("#billing");

async function advanceClock(page: Page, testInfo: TestInfo, button: string) {
  await visit(page, "/settings", testInfo);
  await billing(page).getByRole("button", { name: button }).click();
  await settle(page, testInfo);
}

/** The plan's state as the billing section shows it, waiting for the webhook to land. */
async function expectPlan(page: Page, testInfo: TestInfo, kind: string, text?: string | RegExp) {
  await expect(async () => {
    await visit(page, "/settings", testInfo);
    await expect(billing(page).getByTestId("plan-state")).toHaveAttribute("data-kind", kind, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  if (text) await expect(billing(page).getByTestId("plan-state")).toContainText(text);
}

/** Dials a London number from the plain form; answers the dialer's alert text, if any. */
async function dialRefusal(page: Page, testInfo: TestInfo): Promise<string | null> {
  await visit(page, "/dialer", testInfo);
  await page.getByLabel("Number", { exact: true }).fill("+44 20 7183 8750");
  await page.getByRole("button", { name: "Call", exact: true }).click();
  const alert = page.getByRole("alert");
  // "Cancel call" while it connects (the page without JavaScript shows it as rendered).
  // Waiting for the button, not the live panel: the panel can be on the page
  // before the refusal arrives, and answering on it raced the alert.
  const cancel = page.getByRole("button", { name: /Cancel call|End call/ });
  await expect(alert.or(cancel).first()).toBeVisible({ timeout: 10_000 });
  if (await alert.isVisible()) return alert.innerText();
  await cancel.click();
  return null;
}

test("subscribe with 3 seats, fill them, and be refused a fourth", async ({ page }, testInfo) => {
  await register(page, testInfo, "Plan Owner", uniqueEmail("plan-owner"));
  await expect(page).toHaveURL(/\/dialer$/);
  await visit(page, "/settings", testInfo);
  await expect(billing(page).getByTestId("plan-state")).toHaveAttribute("data-kind", "free");

  await subscribeTeam(page, testInfo, 3);
  await expectPlan(page, testInfo, "active", "Team plan, renews on");
  await expect(billing(page).getByTestId("plan-seats")).toContainText(/3 seats, billed monthly at \$15\.00 per seat per month; 1 in use/);

  const members = page.locator("#members");
  for (const who of ["first", "second"]) {
    await members.getByLabel("Email", { exact: true }).fill(uniqueEmail(who));
    await members.getByRole("button", { name: "Send invitation" }).click();
    await expect(page.getByTestId("invite-link")).toHaveValue(/\/invite\/[0-9a-f]{64}$/);
    await visit(page, "/settings", testInfo);
  }
  await members.getByLabel("Email", { exact: true }).fill(uniqueEmail("third"));
  await members.getByRole("button", { name: "Send invitation" }).click();
  await expect(members.getByText("all 3 seats are taken")).toBeVisible();

  // Fewer seats than people is refused; more is prorated.
  await visit(page, "/settings", testInfo);
  // The form itself refuses fewer seats than people (the server checks again,
  // server/tests/api/billing.rs): nothing is sent.
  const seats = billing(page).getByLabel(/^Seats/);
  await seats.fill("2");
  await billing(page).getByRole("button", { name: "Change seats" }).click();
  expect(await seats.evaluate((input: HTMLInputElement) => input.validity.rangeUnderflow)).toBe(true);
  await expect(billing(page).getByTestId("plan-seats")).toContainText("3 seats");
  await billing(page).getByLabel(/^Seats/).fill("4");
  await billing(page).getByRole("button", { name: "Change seats" }).click();
  await expect(async () => {
    await visit(page, "/settings", testInfo);
    await expect(billing(page).getByTestId("plan-seats")).toContainText("4 seats", { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
});

test("a failed renewal: grace banner, blocked call, new card, calls again", async ({ page }, testInfo) => {
  await register(page, testInfo, "Late Payer", uniqueEmail("late-payer"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  await subscribeTeam(page, testInfo, 1);
  await expectPlan(page, testInfo, "active");

  // The card that pays nothing later, set in the (sandbox) Billing Portal.
  await billing(page).getByRole("button", { name: "Manage payment method and invoices" }).click();
  await expect(page).toHaveURL(/\/sandbox\/portal\//);
  await settle(page, testInfo);
  await page.getByLabel("New card number").fill("4000 0000 0000 0341");
  await page.getByRole("button", { name: "Update card" }).click();
  await expect(page.getByTestId("portal-card")).toContainText("Card ending in 0341");
  await page.getByRole("link", { name: /Return to Phonebooth/ }).click();

  await advanceClock(page, testInfo, "Advance to the next renewal");
  await expectPlan(page, testInfo, "grace", "Payment failed");
  await expect(page.getByTestId("access-banner")).toContainText("Payment failed. Calls stop in");
  expect(await dialRefusal(page, testInfo)).toBeNull();

  await advanceClock(page, testInfo, "Advance past the payment grace period");
  await expectPlan(page, testInfo, "blocked");
  await expect(page.getByTestId("access-banner")).toContainText("new calls are blocked");
  expect(await dialRefusal(page, testInfo)).toContain("is overdue, so new calls are refused");

  await visit(page, "/settings", testInfo);
  await billing(page).getByRole("button", { name: "Update payment method" }).click();
  await expect(page).toHaveURL(/\/sandbox\/portal\//);
  await settle(page, testInfo);
  await page.getByLabel("New card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Update card" }).click();
  await expect(page.getByTestId("portal-card")).toContainText("Card ending in 4242");
  await page.getByRole("link", { name: /Return to Phonebooth/ }).click();
  await settle(page, testInfo);
  await billing(page).getByRole("button", { name: "Retry payment" }).click();
  await expectPlan(page, testInfo, "active");
  await expect(page.getByTestId("access-banner")).toHaveCount(0);
  expect(await dialRefusal(page, testInfo)).toBeNull();
});

test("cancel at the period's end, see when it ends, and resume", async ({ page }, testInfo) => {
  await register(page, testInfo, "Canceller", uniqueEmail("canceller"));
  await expect(page).toHaveURL(/\/dialer$/);
  await subscribeTeam(page, testInfo, 2);
  await expectPlan(page, testInfo, "active");

  await billing(page).getByRole("button", { name: "Cancel subscription" }).click();
  await expectPlan(page, testInfo, "canceling", /Team plan, ends on \d{4}-\d{2}-\d{2}/);
  await expect(billing(page)).toContainText("Nothing is deleted");
  await billing(page).getByRole("button", { name: "Resume subscription" }).click();
  await expectPlan(page, testInfo, "active", "renews on");
});

test("pause: a banner, no new calls, and it resumes by itself", async ({ page }, testInfo) => {
  await register(page, testInfo, "Pauser", uniqueEmail("pauser"));
  await expect(page).toHaveURL(/\/dialer$/);
  await buyTenDollars(page, testInfo);
  await subscribeTeam(page, testInfo, 1);
  await expectPlan(page, testInfo, "active");

  await billing(page).getByRole("button", { name: "Pause subscription" }).click();
  await expectPlan(page, testInfo, "paused", /Paused until \d{4}-\d{2}-\d{2}/);
  await expect(page.getByTestId("access-banner")).toContainText("The subscription is paused until");
  expect(await dialRefusal(page, testInfo)).toContain("paused");

  // The next renewal is after the pause's end: the sandbox resumes it first, as Stripe does.
  await advanceClock(page, testInfo, "Advance to the next renewal");
  await expectPlan(page, testInfo, "active");
  await expect(page.getByTestId("access-banner")).toHaveCount(0);
  expect(await dialRefusal(page, testInfo)).toBeNull();
});
