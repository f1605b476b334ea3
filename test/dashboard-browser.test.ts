// The admin dashboard in a real browser (Debian's chromium driven by playwright-core) against a
// seeded server: find an attribution id, read its balance and chart, add a credit note, see the
// balance change, lift a block (as admin; a reader is refused). Saves screenshots to
// test-artifacts/ for people to look at.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { BrowserContext, Page, Request as BrowserRequest } from "playwright-core";
import { AuditService } from "../src/gen/usage/v1/audit_pb.js";
import { CostCenter_BillingStrategy } from "../src/gen/usage/v1/usage_pb.js";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { bookInstanceUsage, teamId, userId } from "./support/ledger-fixtures.js";
import { eventually, findChromium, openChromium, requireChromium } from "./support/browser.js";
import { grpcStatus, rejects, startTestTally, type TestTally } from "./support/test-tally.js";

const browser = findChromium();
let chromiumPath = browser.path;
const artifactsDir = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "test-artifacts");
const hourMs = 60 * 60 * 1000;
const dayMs = 24 * hourMs;
/** Generous: the first page load on a busy 2-core machine. */
const timeoutMs = 20_000;

// One suite around both, so a machine without Chromium prints one skip line.
describe("the dashboard in a browser (Chromium)", { skip: browser.skip }, () => {
  describe("the admin dashboard in a browser", () => {
    let t: TestTally;
    let context: BrowserContext;
    let page: Page;
    let profileDir: string;
    const problems: string[] = [];
    const team = teamId();
    const alice = randomUUID();

    before(async () => {
      chromiumPath = requireChromium(browser);
      t = await startTestTally();
      await seed(t, team, alice);
      ({ context, page, profileDir } = await openBrowser(t, problems));
    });

    after(async () => {
      await context?.close();
      if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
      await t?.stop();
    });

    it("rejects a malformed attribution id before calling the server", async () => {
      await page.goto(`${t.tally.url}/`);
      await page.getByLabel("Attribution id").fill("team:not-a-uuid");
      await page.getByLabel("Attribution id").press("Enter");
      await page.getByRole("alert").filter({ hasText: 'the part after "team:"' }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/");
      assert.equal(await page.getByLabel("Attribution id").getAttribute("aria-invalid"), "true");
    });

    it("finds an attribution id and shows its balance against the limit, the chart and the entries", async () => {
      await page.getByLabel("Attribution id").fill(team.toUpperCase().replace("TEAM:", "team:"));
      await page.getByLabel("Attribution id").press("Enter");
      await page.waitForURL(`**/attributions/${encodeURIComponent(team)}`);
      const meter = page.getByRole("meter", { name: "Balance against spending limit" });
      await meter.waitFor();
      assert.equal(await meter.getAttribute("aria-valuetext"), "170.00 of 200.00 credits used (85 %)");
      assert.match((await meter.getAttribute("class")) ?? "", /gauge--almost/);

      const chart = page.getByTestId("usage-chart");
      await chart.locator("canvas").waitFor();
      const box = await chart.locator("canvas").boundingBox();
      assert.ok(box && box.width > 600 && box.height > 200, `chart canvas is ${JSON.stringify(box)}`);
      assert.equal((await page.getByTestId("chart-total").textContent())?.startsWith("170.00 credits"), true);
      for (const workspaceClass of ["g1-large", "g1-standard", "g1-xlarge"]) {
        await page.locator(".chart__legend").getByText(workspaceClass, { exact: true }).waitFor();
      }

      const entries = page.getByTestId("usage-entries");
      await entries.waitFor();
      assert.equal(await entries.locator("tbody tr").count(), 20);
      await page.getByText("Page 1 of 3").waitFor();
      await page.getByText(/^44 entries · 170\.00 credits/).waitFor();
      await page.getByRole("button", { name: "Next ›" }).click();
      await page.getByText("Page 2 of 3").waitFor();
      await page.getByRole("button", { name: "Next ›" }).click();
      await page.getByText("Page 3 of 3").waitFor();
      await eventually(async () => (await entries.locator("tbody tr").count()) === 4, "4 entries on the last page", timeoutMs);

      await page.getByRole("heading", { name: "Cost-center history" }).waitFor();
      const history = page.locator("section", { has: page.getByRole("heading", { name: "Cost-center history" }) });
      assert.equal(await history.locator("tbody tr").count(), 2);
      await page.getByTestId("account-status").getByText("Not blocked").waitFor();
      assert.equal(await page.getByRole("button", { name: "Lift block…" }).count(), 0, "no unblock action while not blocked");
      await page.getByTestId("audit-log").getByText("SetCostCenter").waitFor();
    });

    it("shows an attribution id nobody has used yet without creating anything for it", async () => {
      const stranger = userId();
      await page.getByLabel("Attribution id").fill(stranger);
      await page.getByRole("button", { name: "Look up" }).click();
      await page.getByText("No cost center is stored yet", { exact: false }).waitFor();
      assert.equal(await page.getByTestId("balance").textContent(), "0.00");
      await page.getByText("No usage in this range.").waitFor();
      await page.getByText("No usage entries match.").waitFor();
      await page.getByText("None yet.").waitFor();
      assert.equal((await listCostCenterHistory(t.tally.database.db, stranger)).length, 0);
      await page.goBack();
      await page.getByTestId("attribution-id").filter({ hasText: team }).waitFor();
      await page.getByRole("meter", { name: "Balance against spending limit" }).waitFor();
    });

    it("filters the entries and the chart by user", async () => {
      await page.getByLabel("User id", { exact: true }).fill(alice);
      await page.getByRole("button", { name: "Apply" }).click();
      await eventually(async () => (await page.getByTestId("usage-entries").locator("tbody tr").count()) === 6, "Alice's 6 entries", timeoutMs);
      await page.getByText(/^6 entries/).waitFor();
      await page.getByTestId("chart-total").filter({ hasText: /^30\.00 credits/ }).waitFor();
      await page.getByLabel("User id", { exact: true }).fill("");
      await page.getByRole("button", { name: "Apply" }).click();
      await page.getByTestId("chart-total").filter({ hasText: /^170\.00 credits/ }).waitFor();
    });

    it("adds a credit note with its reason, and the balance goes down", async () => {
      await page.getByLabel("Credits", { exact: true }).fill("50");
      await page.getByLabel("Reason").fill("Outage on Jan 12: workspaces failed to start");
      // The first answer is lost on its way back, after the server booked the note: the operator clicks
      // again, and the retry carries the same idempotency key, so nothing more is booked.
      const keys: string[] = [];
      const addCreditNote = "**/usage.v1.UsageService/AddUsageCreditNote";
      await page.route(addCreditNote, async (route) => {
        keys.push(route.request().headers()["idempotency-key"] ?? "(none)");
        if (keys.length > 1) return route.continue();
        await route.fetch();
        await route.abort("connectionreset");
      });
      await page.getByRole("button", { name: "Add credits" }).click();
      const failed = page.locator(".credit-form .form-status--failed");
      await failed.waitFor();
      assert.notEqual(await failed.textContent(), "", "the lost answer is reported");
      await page.getByRole("button", { name: "Add credits" }).click();
      await page.getByRole("status").filter({ hasText: "Added 50 credits." }).waitFor();
      await page.unroute(addCreditNote);
      assert.equal(keys.length, 2);
      assert.match(keys[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(keys[1], keys[0]);
      const meter = page.getByRole("meter", { name: "Balance against spending limit" });
      await eventually(
        async () => (await meter.getAttribute("aria-valuetext")) === "120.00 of 200.00 credits used (60 %)",
        "the balance after the credit note",
        timeoutMs,
      );
      assert.match((await meter.getAttribute("class")) ?? "", /gauge--ok/);
      await page.getByTestId("payments").getByText("Outage on Jan 12: workspaces failed to start").waitFor();
      // Both calls are audited (the retry too); the ledger has the note once.
      await page.getByTestId("audit-log").getByText("AddUsageCreditNote").nth(1).waitFor();
      assert.equal(await page.getByTestId("audit-log").getByText("AddUsageCreditNote").count(), 2);
      assert.equal((await t.usage.getBalance({ attributionId: team })).credits, 120);
    });

    it("refuses a credit note without a reason, saying why", async () => {
      await page.getByLabel("Credits", { exact: true }).fill("5");
      await page.getByLabel("Reason").fill("   ");
      await page.getByRole("button", { name: "Add credits" }).click();
      await page.getByText("Give the reason for the credit note.").waitFor();
      assert.equal((await t.usage.getBalance({ attributionId: team })).credits, 120);
    });

    it("shows a block with its reason and time, and lifts it with a reason", async () => {
      const blockedAt = t.clock.now();
      assert.equal(await t.tally.billing.accounts.block({ attributionId: team, reason: "charge dispute dp_123", source: "stripe-dispute:dp_123" }), true);
      t.clock.advanceMs(60_000);
      await page.reload();
      const status = page.getByTestId("account-status");
      await status.getByText("Blocked").waitFor();
      assert.equal(await status.textContent(), `Blocked charge dispute dp_123 (since ${utcMinute(blockedAt)} UTC)`);

      await page.getByRole("button", { name: "Lift block…" }).click();
      await page.getByRole("button", { name: "Lift block", exact: true }).click();
      await page.getByText("Give the reason for lifting the block.").waitFor();
      assert.equal((await t.tally.billing.accounts.status(team)).blocked, true);

      await page.getByLabel("Why is the block lifted?").fill("Dispute dp_123 won; the charge stands");
      fs.mkdirSync(artifactsDir, { recursive: true });
      await page.locator("section", { has: page.getByRole("heading", { name: "Balance" }) }).screenshot({ path: path.join(artifactsDir, "dashboard-unblock.png") });
      await page.getByRole("button", { name: "Lift block", exact: true }).click();
      await status.getByText("Not blocked").waitFor();
      assert.equal(await page.getByRole("button", { name: "Lift block…" }).count(), 0);
      assert.equal((await t.tally.billing.accounts.status(team)).blocked, false);
      await page.getByTestId("audit-log").getByText("UnblockAttribution").waitFor();
    });

    it("sends the API token it is given as a bearer token", async () => {
      await page.getByRole("button", { name: /API token/ }).click();
      await page.getByLabel("Bearer token").fill("secret-reader-token");
      const request = page.waitForRequest((r) => r.url().endsWith("/usage.v1.UsageService/GetBalance"));
      await page.getByRole("button", { name: "Save" }).click();
      assert.equal((await request).headers()["authorization"], "Bearer secret-reader-token");
      await page.getByRole("meter", { name: "Balance against spending limit" }).waitFor();
    });

    it("looks right (screenshot in test-artifacts/dashboard.png) and logs no errors", async () => {
      await page.getByRole("button", { name: "API token: set" }).click();
      await page.getByRole("button", { name: "Clear" }).click();
      await page.getByRole("button", { name: "API token: none" }).waitFor();
      await page.getByRole("heading", { name: "Credit notes and invoices" }).waitFor();
      await page.locator('[aria-busy="true"]').first().waitFor({ state: "detached" }).catch(() => undefined);
      fs.mkdirSync(artifactsDir, { recursive: true });
      await page.screenshot({ path: path.join(artifactsDir, "dashboard.png"), fullPage: true });
      await page.setViewportSize({ width: 400, height: 800 });
      await page.screenshot({ path: path.join(artifactsDir, "dashboard-narrow.png"), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });
      assert.deepEqual(problems, []);
    });

    it("shows the audit log of the attribution id, older pages on demand", async () => {
      // Eleven audited calls for another id: ten credit notes and a refused one (the newest).
      const other = teamId();
      for (let i = 1; i <= 10; i++) await t.usage.addUsageCreditNote({ attributionId: other, credits: i, description: `note ${i}` });
      await rejects(t.grpc.addUsageCreditNote({ attributionId: other, credits: 1, description: "" }), grpcStatus.INVALID_ARGUMENT);
      const audit = createClient(AuditService, createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" }));
      const { nextPageToken } = await audit.listAuditEntries({ attributionId: other, pageSize: 10 });
      assert.notEqual(nextPageToken, "");

      const requests: unknown[] = [];
      const onRequest = (request: BrowserRequest) => {
        if (request.url().endsWith("/usage.v1.AuditService/ListAuditEntries")) requests.push(request.postDataJSON());
      };
      page.on("request", onRequest);
      await page.goto(`${t.tally.url}/attributions/${encodeURIComponent(other)}`);
      const log = page.getByTestId("audit-log");
      await log.getByText("INVALID_ARGUMENT").waitFor();
      assert.equal(await log.getByText("INVALID_ARGUMENT").getAttribute("title"), "description is required (the reason for the credit note)");
      assert.equal(await log.locator("tbody tr").count(), 10);
      await page.getByRole("button", { name: "Show older" }).click();
      await eventually(async () => (await log.locator("tbody tr").count()) === 11, "the older audit page", timeoutMs);
      assert.equal(await page.getByRole("button", { name: "Show older" }).count(), 0);
      page.off("request", onRequest);
      // Proto3 JSON leaves the empty page token of the first page out.
      assert.deepEqual(requests.slice(0, 1), [{ attributionId: other, pageSize: 10 }]);
      assert.ok(requests.some((r) => (r as { pageToken?: string }).pageToken === nextPageToken), JSON.stringify(requests));
      await page.locator("section", { has: page.getByRole("heading", { name: "Audit log" }) }).screenshot({ path: path.join(artifactsDir, "dashboard-audit.png") });
    });

    it("asks for an API token when the server answers unauthenticated", async () => {
      await page.route("**/usage.v1.UsageService/GetBalance", (route) =>
        route.fulfill({ status: 401, json: { code: "unauthenticated", message: "a bearer token is required" } }),
      );
      await page.reload();
      await page.getByRole("alert").filter({ hasText: "a bearer token is required: this server needs an API token" }).first().waitFor();
      await page.unroute("**/usage.v1.UsageService/GetBalance");
    });
  });

  describe("lifting a block in the dashboard with API tokens", () => {
    const adminToken = `admin-${randomUUID()}`;
    const readerToken = `reader-${randomUUID()}`;
    const team = teamId();
    let t: TestTally;
    let context: BrowserContext;
    let page: Page;
    let profileDir: string;
    const problems: string[] = [];

    before(async () => {
      chromiumPath = requireChromium(browser);
      t = await startTestTally({ env: { TALLY_API_TOKENS: `ops:admin:${adminToken},viewer:reader:${readerToken}` } });
      await t.tally.billing.accounts.block({ attributionId: team, reason: "charge dispute dp_456", source: "stripe-dispute:dp_456" });
      // The reader's attempt is refused with 403 (PERMISSION_DENIED), and the home page's team list
      // asks once before a token is set (401); nothing else may fail.
      const refusedUnblock = (status: number, url: string) =>
        (status === 403 && url.endsWith("/usage.v1.AccountService/UnblockAttribution")) ||
        (status === 401 && url.endsWith("/usage.v1.ReportService/ListAccounts"));
      ({ context, page, profileDir } = await openBrowser(t, problems, refusedUnblock));
    });

    after(async () => {
      await context?.close();
      if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
      await t?.stop();
    });

    it("refuses a reader with a clear permission message, and lets an admin lift the block", async () => {
      await page.goto(`${t.tally.url}/`);
      await setToken(page, readerToken);
      await page.getByLabel("Attribution id").fill(team);
      await page.getByLabel("Attribution id").press("Enter");
      const status = page.getByTestId("account-status");
      await status.getByText("Blocked").waitFor();

      await page.getByRole("button", { name: "Lift block…" }).click();
      await page.getByLabel("Why is the block lifted?").fill("Customer paid by bank transfer");
      await page.getByRole("button", { name: "Lift block", exact: true }).click();
      await page
        .getByRole("alert")
        .filter({ hasText: `token "viewer" has role reader; usage.v1.AccountService/UnblockAttribution changes data and needs role admin: the API token's role does not allow this.` })
        .waitFor();
      assert.equal((await t.tally.billing.accounts.status(team)).blocked, true);
      assert.equal(await status.getByText("Blocked").count(), 1);

      await setToken(page, adminToken);
      await page.getByRole("button", { name: "Lift block…" }).click();
      await page.getByLabel("Why is the block lifted?").fill("Customer paid by bank transfer");
      await page.getByRole("button", { name: "Lift block", exact: true }).click();
      await status.getByText("Not blocked").waitFor();
      assert.equal((await t.tally.billing.accounts.status(team)).blocked, false);
      const log = page.getByTestId("audit-log");
      await log.locator("tr", { hasText: "ops" }).getByText("UnblockAttribution").waitFor();
      await log.locator("tr", { hasText: "viewer" }).getByText("PERMISSION_DENIED").waitFor();
      assert.deepEqual(problems, []);
    });
  });
});

async function setToken(page: Page, token: string): Promise<void> {
  await page.getByRole("button", { name: /API token/ }).click();
  await page.getByLabel("Bearer token").fill(token);
  await page.getByRole("button", { name: "Save" }).click();
}

/** Chromium with a fresh profile on a page whose clock is the server's; problems are collected. */
async function openBrowser(t: TestTally, problems: string[], expectedStatus?: (status: number, url: string) => boolean) {
  const opened = await openChromium({
    executablePath: chromiumPath,
    profilePrefix: "tally-chromium-",
    viewport: { width: 1280, height: 900 },
    timezoneId: "Europe/Berlin",
    timeoutMs,
    problems,
  });
  // The browser's today is the server's (manual) today, so the default range holds the seed.
  await opened.page.clock.setFixedTime(t.clock.now());
  // Failed requests are checked here, with their URL.
  opened.page.on("response", (response) => {
    if (response.status() >= 400 && !expectedStatus?.(response.status(), response.url())) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
  return opened;
}

function utcMinute(date: Date): string {
  return date.toISOString().slice(0, 16).replace("T", " ");
}

/** 44 entries over the last 20 days in three classes, 170 credits in all, and a limit of 200. */
async function seed(t: TestTally, attributionId: string, alice: string): Promise<void> {
  await t.usage.getCostCenter({ attributionId });
  t.clock.advanceMs(60_000);
  await t.usage.setCostCenter({ costCenter: { attributionId, spendingLimit: 200, billingStrategy: CostCenter_BillingStrategy.OTHER } });
  const now = t.clock.now().getTime();
  const classes = ["g1-standard", "g1-large", "g1-xlarge"] as const;
  const fixtures = [];
  let cents = 0n;
  for (let i = 0; i < 38; i++) {
    const workspaceClass = classes[i % 3]!;
    const creditCents = BigInt(100 + ((i * 137) % 250)) * (workspaceClass === "g1-xlarge" ? 2n : 1n);
    cents += creditCents;
    fixtures.push({ attributionId, creditCents, workspaceClass, effectiveTime: new Date(now - (i % 20) * dayMs - (i % 7) * hourMs - hourMs) });
  }
  // Alice's six entries: 30 credits; the rest tops the total up to exactly 170 credits.
  for (let i = 0; i < 6; i++) {
    fixtures.push({ attributionId, creditCents: 500n, workspaceClass: "g1-large", userId: alice, effectiveTime: new Date(now - (i * 3 + 1) * dayMs) });
  }
  cents += 3000n;
  // Spread what is missing to 170 credits over the first 38 entries, the odd cents on the first.
  const missing = 17_000n - cents;
  assert.ok(missing > 0n, "the seed must top up, not take away");
  for (let i = 0; i < 38; i++) fixtures[i] = { ...fixtures[i]!, creditCents: fixtures[i]!.creditCents + missing / 38n };
  fixtures[0] = { ...fixtures[0]!, creditCents: fixtures[0]!.creditCents + (missing % 38n) };
  await bookInstanceUsage(t.tally.database.db, fixtures);
}
