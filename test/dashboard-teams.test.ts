// The dashboard managing teams, in a real browser (Debian's chromium driven by playwright-core):
// the team list (search, sort, server paging), a limit change and a strategy switch behind a
// confirmation, a subtraction of credits, a never-seen team's defaults, the account events with their
// deliveries. Screenshots at desktop width and at 390 px go to test-artifacts/.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EventService } from "../src/gen/usage/v1/event_pb.js";
import { CostCenter_BillingStrategy } from "../src/gen/usage/v1/usage_pb.js";
import { bookInstanceUsage, teamId } from "./support/ledger-fixtures.js";
import { assertNoPageScroll, eventually, findChromium, openChromium, requireChromium } from "./support/browser.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const browser = findChromium();
const artifactsDir = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "test-artifacts");
/** Generous: page loads on a busy 2-core machine. */
const timeoutMs = 30_000;
const desktop = { width: 1280, height: 900 };
const phone = { width: 390, height: 844 };

describe("the dashboard manages teams (Chromium)", { skip: browser.skip }, () => {
  let t: TestTally;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const problems: string[] = [];
  // 25 teams whose ids share a random first group, so a search for it finds exactly them.
  const prefix = randomBytes(4).toString("hex");
  const team = (n: number) => `team:${prefix}-0000-4000-8000-${String(n).padStart(12, "0")}`;
  const teams = Array.from({ length: 25 }, (_, i) => team(i + 1));
  const managed = team(7);

  before(async () => {
    const chromiumPath = requireChromium(browser);
    t = await startTestTally();
    // An endpoint nobody listens at: the events are kept, their deliveries keep failing.
    const events = createClient(EventService, createGrpcTransport({ baseUrl: t.tally.url }));
    await events.addEndpoint({ url: "http://127.0.0.1:9/tally-hook", eventTypes: ["limit.warning", "limit.reached", "credit_note.added"] });
    // Team n has used n credits; team 7 has a limit of 1000 (the others the default, 0: reached).
    await t.usage.setCostCenter({ costCenter: { attributionId: managed, spendingLimit: 1000, billingStrategy: CostCenter_BillingStrategy.OTHER } });
    // And one team the search must leave out, so the list's total tells when the search has applied.
    await bookInstanceUsage(t.tally.database.db, [
      ...teams.map((attributionId, i) => ({ attributionId, creditCents: BigInt((i + 1) * 100), effectiveTime: t.clock.now() })),
      { attributionId: teamId(), creditCents: 100_000n, effectiveTime: t.clock.now() },
    ]);
    ({ context, page, profileDir } = await openChromium({
      executablePath: chromiumPath,
      profilePrefix: "tally-chromium-teams-",
      viewport: desktop,
      timeoutMs,
      problems,
    }));
    await page.clock.setFixedTime(t.clock.now());
    fs.mkdirSync(artifactsDir, { recursive: true });
  });

  after(async () => {
    await context?.close();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    await t?.stop();
  });

  const rows = () => page.getByTestId("teams").locator("tbody tr");
  const firstIds = async (count: number) => (await rows().locator("th").allTextContents()).slice(0, count);

  it("lists the teams: searched, sorted and paged by the server, with status and defaults", async () => {
    await page.goto(`${t.tally.url}/`);
    await page.getByTestId("teams-total").filter({ hasText: /^26 attribution ids/ }).waitFor();
    // The search applies a moment after the last key (and goes back to page 1): wait for it before
    // paging, or it lands after the click on "Next" and the list is on page 1 again.
    await page.getByLabel("Search").fill(prefix.toUpperCase());
    await page.getByTestId("teams-total").filter({ hasText: /^25 attribution ids/ }).waitFor();
    await eventually(async () => (await rows().count()) === 20, "20 rows on the first page", timeoutMs);
    assert.deepEqual(await firstIds(2), [team(1), team(2)]);
    await page.getByText("Page 1 of 2").waitFor();
    // The managed team: its own limit; the others show the default (0) as reached.
    const managedRow = rows().filter({ hasText: managed });
    assert.match((await managedRow.textContent()) ?? "", /7\.00.*1,000.*OK/);
    assert.match((await rows().first().textContent()) ?? "", /1\.00.*0 \(default\).*Limit reached/);

    await page.getByRole("button", { name: /^Balance/ }).click(); // largest first
    await eventually(async () => (await firstIds(1))[0] === team(25), "sorted by balance, largest first", timeoutMs);
    assert.equal(await page.locator("th[aria-sort=descending]").textContent(), "Balance▼");
    await page.getByRole("button", { name: "Next ›" }).click();
    await page.getByText("Page 2 of 2").waitFor();
    await eventually(async () => (await rows().count()) === 5, "5 rows on the last page", timeoutMs);
    assert.deepEqual(await firstIds(5), [team(5), team(4), team(3), team(2), team(1)]);
    await page.getByRole("button", { name: /^Status/ }).click(); // most urgent first: the reached ones, then the one OK
    await page.getByText("Page 1 of 2").waitFor();
    await eventually(async () => (await page.locator("th[aria-sort=descending]").textContent()) === "Status▼" && (await firstIds(1))[0] === team(1), "sorted by status", timeoutMs);
    assert.equal(await rows().filter({ hasText: "Limit reached" }).count(), 20);
    await page.screenshot({ path: path.join(artifactsDir, "dashboard-teams.png"), fullPage: true });
    await page.setViewportSize(phone);
    await assertNoPageScroll(page, timeoutMs);
    await page.screenshot({ path: path.join(artifactsDir, "dashboard-teams-390.png"), fullPage: true });
    await page.setViewportSize(desktop);
  });

  it("changes the spending limit after a confirmation, and shows what a strategy switch would book", async () => {
    await page.getByLabel("Search").fill(managed);
    await eventually(async () => (await rows().count()) === 1, "the managed team alone", timeoutMs);
    await rows().getByRole("link", { name: managed }).click();
    await page.waitForURL(`**/attributions/${encodeURIComponent(managed)}`);
    const meter = page.getByRole("meter", { name: "Balance against spending limit" });
    await eventually(async () => (await meter.getAttribute("aria-valuetext")) === "7.00 of 1,000.00 credits used (1 %)", "the gauge", timeoutMs);

    // A switch to Stripe would balance out the 7 credits used: shown, then canceled.
    await page.getByLabel("Billed by").selectOption({ label: "Stripe" });
    await page.getByRole("button", { name: "Review change…" }).click();
    const confirmation = page.getByRole("alertdialog", { name: "Confirm the change" });
    await confirmation.getByText("Books an invoice of −7.00 credits that balances out the usage so far", { exact: false }).waitFor();
    await confirmation.getByText("Starts a new billing cycle now.").waitFor();
    await confirmation.getByRole("button", { name: "Cancel" }).click();
    await page.getByLabel("Billed by").selectOption({ label: "Other (reset monthly)" });

    const keys: string[] = [];
    await page.route("**/usage.v1.UsageService/SetCostCenter", async (route) => {
      keys.push(route.request().headers()["idempotency-key"] ?? "(none)");
      await route.continue();
    });
    await page.getByLabel("Spending limit (credits)").fill("8");
    await page.getByRole("button", { name: "Review change…" }).click();
    await confirmation.getByText("Changes the spending limit from 1,000.00 to 8.00 credits. Books nothing; the billing cycle stays.").waitFor();
    await confirmation.getByRole("button", { name: "Confirm change" }).click();
    await page.getByRole("status").filter({ hasText: "Saved: 8.00 credits, billed Other." }).waitFor();
    assert.equal(keys.length, 1);
    assert.match(keys[0]!, /^[0-9a-f-]{36}$/);
    await eventually(async () => (await meter.getAttribute("aria-valuetext")) === "7.00 of 8.00 credits used (88 %)", "the gauge after the change", timeoutMs);
    await eventually(async () => (await page.getByLabel("Spending limit (credits)").inputValue()) === "8", "the form showing the stored limit", timeoutMs);
    const stored = await t.usage.getCostCenter({ attributionId: managed });
    assert.equal(stored.costCenter?.spendingLimit, 8);
    assert.equal(stored.costCenter?.billingStrategy, CostCenter_BillingStrategy.OTHER);
    // The change crossed the warning threshold: the account event is listed with its delivery.
    const event = page.getByTestId("events").locator("tr", { hasText: "limit.warning" });
    await event.waitFor();
    await event.getByText("http://127.0.0.1:9/tally-hook").waitFor();
    assert.match((await event.textContent()) ?? "", /Pending|Failed/);
    // Still being retried (nothing listens there): when, and no Redeliver button until it is delivered or given up.
    if (/Pending/.test((await event.textContent()) ?? "")) {
      await event.getByText(/^next attempt \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/).waitFor();
      assert.equal(await event.getByRole("button", { name: "Redeliver" }).count(), 0);
    }
  });

  it("subtracts credits with a negative credit note", async () => {
    const requests: string[] = [];
    await page.route("**/usage.v1.UsageService/AddUsageCreditNote", async (route) => {
      requests.push(route.request().postData() ?? "");
      await route.continue();
    });
    await page.getByText("Subtract credits", { exact: true }).click();
    await page.getByLabel("Credits", { exact: true }).fill("2");
    await page.getByLabel("Reason").fill("Credit note of Jan 3 given twice");
    await page.getByRole("button", { name: "Subtract credits" }).click();
    await eventually(async () => requests.length === 1, "the request", timeoutMs);
    assert.equal(JSON.parse(requests[0]!).credits, -2);
    const meter = page.getByRole("meter", { name: "Balance against spending limit" });
    await page.getByRole("status").filter({ hasText: "Subtracted 2 credits." }).waitFor();
    await eventually(async () => (await meter.getAttribute("aria-valuetext")) === "9.00 of 8.00 credits used (113 %)", "the balance raised by 2", timeoutMs);
    assert.equal((await t.usage.getBalance({ attributionId: managed })).credits, 9);
    await page.screenshot({ path: path.join(artifactsDir, "dashboard-manage.png"), fullPage: true });
    await page.setViewportSize(phone);
    await assertNoPageScroll(page, timeoutMs);
    await page.screenshot({ path: path.join(artifactsDir, "dashboard-manage-390.png"), fullPage: true });
    await page.setViewportSize(desktop);
  });

  it("shows a never-seen team with its would-be defaults: limit 0, reached", async () => {
    const stranger = teamId();
    await page.getByLabel("Attribution id").fill(stranger);
    await page.getByRole("button", { name: "Look up" }).click();
    await page.getByTestId("default-limit").filter({ hasText: "Limit reached" }).waitFor();
    assert.match((await page.getByTestId("default-limit").textContent()) ?? "", /^0\.00 credits \(default\)/);
    await page.getByTestId("limit-defaults").waitFor();
    assert.equal(await page.getByLabel("Spending limit (credits)").inputValue(), "0");
    await page.getByText("No account events yet.").waitFor();
    assert.deepEqual(problems, []);
  });
});
