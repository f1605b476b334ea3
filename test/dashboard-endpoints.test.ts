// The dashboard manages webhook endpoints, in a real browser (Debian's chromium driven by
// playwright-core), against a real local receiver that verifies every delivery with the
// `standardwebhooks` package: add an endpoint (its secret shown once, then only its first
// characters), a signed delivery, a failing one shown as failed and redelivered, a secret rotation
// (both secrets verify), a reader refused, the removal; idempotency keys and audit rows as the
// other mutations have. Screenshots at desktop width and at 390 px go to test-artifacts/.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { listAuditEntries } from "../src/store/audit-log.js";
import { teamId } from "./support/ledger-fixtures.js";
import { assertNoPageScroll, eventually, findChromium, openChromium, requireChromium } from "./support/browser.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";
import { startWebhookReceiver, type WebhookReceiver } from "./support/webhook-receiver.js";

const browser = findChromium();
const artifactsDir = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "test-artifacts");
/** Generous: page loads on a busy 2-core machine. */
const timeoutMs = 30_000;
const desktop = { width: 1280, height: 900 };
const phone = { width: 390, height: 844 };
const hourMs = 60 * 60_000;

describe("the dashboard manages webhook endpoints (Chromium)", { skip: browser.skip }, () => {
  const adminToken = `admin-${randomUUID()}`;
  const readerToken = `reader-${randomUUID()}`;
  const team = teamId();
  let t: TestTally;
  let receiver: WebhookReceiver;
  let usage: ReturnType<typeof createClient<typeof UsageService>>;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const problems: string[] = [];
  /** The idempotency-key header of each EventService mutation the page sent, by method. */
  const keys: Record<string, string[]> = {};
  let secret = "";
  let endpointId = "";

  before(async () => {
    const chromiumPath = requireChromium(browser);
    t = await startTestTally({ env: { TALLY_API_TOKENS: `ops:admin:${adminToken},viewer:reader:${readerToken}` } });
    const bearer: Interceptor = (next) => (request) => {
      request.header.set("Authorization", `Bearer ${adminToken}`);
      return next(request);
    };
    usage = createClient(UsageService, createGrpcTransport({ baseUrl: t.tally.url, interceptors: [bearer] }));
    // No secret yet: it is read from the page once the endpoint is added.
    receiver = await startWebhookReceiver([]);
    ({ context, page, profileDir } = await openChromium({
      executablePath: chromiumPath,
      profilePrefix: "tally-chromium-endpoints-",
      viewport: desktop,
      timeoutMs,
      problems,
    }));
    await page.route("**/usage.v1.EventService/*", async (route) => {
      const method = route.request().url().split("/").pop()!;
      if (method !== "ListEndpoints" && method !== "ListEvents") (keys[method] ??= []).push(route.request().headers()["idempotency-key"] ?? "(none)");
      await route.continue();
    });
    fs.mkdirSync(artifactsDir, { recursive: true });
  });

  after(async () => {
    await context?.close();
    if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
    await receiver?.close();
    await t?.stop();
  });

  const endpointRow = () => page.getByTestId("endpoints").locator(`tr[data-endpoint-id="${endpointId}"]`);
  const eventRow = (eventId: string) => page.getByTestId("events").locator(`tr[data-event-id="${eventId}"]`);

  /** A credit note for the team: a credit_note.added event, whose id (the webhook-id) this returns once it arrived. */
  async function creditNote(credits: number): Promise<string> {
    const before = receiver.requests.length;
    const description = `goodwill ${randomUUID()}`;
    await usage.addUsageCreditNote({ attributionId: team, credits, description });
    const arrived = () => receiver.requests.slice(before).find((request) => request.payload.type === "credit_note.added" && request.body.includes(description));
    await receiver.waitFor(() => arrived() !== undefined);
    // …and its answer recorded: a delivery still in flight would be canceled by a removal.
    await t.tally.events.dispatcher.settle(timeoutMs);
    return arrived()!.webhookId;
  }

  it("adds an endpoint, shows its secret once and lists it with only the secret's first characters", async () => {
    await page.goto(`${t.tally.url}/`);
    await setToken(page, adminToken);
    await page.getByRole("navigation", { name: "Views" }).getByRole("link", { name: "Webhooks" }).click();
    await page.waitForURL("**/endpoints");
    await page.getByText("No endpoint yet: add one below.").waitFor();

    // Nothing checked: the form says what is missing and sends nothing.
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByText("Enter the URL Tally should POST the events to.").waitFor();
    await page.getByText("Pick at least one event type.").waitFor();
    assert.equal(keys.AddEndpoint?.length ?? 0, 0);

    await page.getByLabel("URL", { exact: true }).fill(receiver.url);
    for (const type of ["limit.reached", "credit_note.added"]) await page.getByRole("checkbox", { name: type }).check();
    await page.getByLabel("Description").fill("the platform's receiver");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const notice = page.getByTestId("new-secret");
    await notice.getByText("Shown only now").waitFor();
    secret = (await notice.getByTestId("secret-value").textContent()) ?? "";
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(keys.AddEndpoint?.length, 1);
    assert.match(keys.AddEndpoint![0]!, /^[0-9a-f-]{36}$/);

    const [stored] = await t.tally.events.service.listEndpoints();
    assert.equal(stored?.url, receiver.url);
    assert.deepEqual(stored?.eventTypes, ["limit.reached", "credit_note.added"]);
    endpointId = stored!.id;
    const row = endpointRow();
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /the platform's receiver.*limit\.reached.*credit_note\.added.*Enabled.*0 pending, 0 failed/);
    await row.getByText(`${secret.slice(0, 10)}...`).waitFor();
    await row.getByText("one secret").waitFor();

    // Once hidden, the secret is nowhere on the page.
    await notice.getByRole("button", { name: "Done, hide it" }).click();
    await notice.waitFor({ state: "detached" });
    assert.equal((await page.content()).includes(secret.slice(10)), false);
  });

  it("shows a delivery the receiver verified with the secret from the page", async () => {
    receiver.secrets = [secret];
    const eventId = await creditNote(5);
    const delivery = receiver.requests.find((request) => request.webhookId === eventId)!;
    assert.deepEqual(delivery.verifiedWith, [0]);
    assert.equal(delivery.payload.type, "credit_note.added");
    assert.equal(delivery.payload.data.attributionId, team);
    assert.deepEqual(receiver.refused, []);
    await t.tally.events.dispatcher.settle();

    await endpointRow().getByRole("button", { name: "Deliveries" }).click();
    const deliveries = page.getByRole("region", { name: `Deliveries to ${receiver.url}` });
    await deliveries.waitFor();
    const row = eventRow(eventId);
    await row.getByText("Delivered").waitFor();
    await row.getByText("credit_note.added").waitFor();
    await row.getByText(/^1 attempt, last: HTTP 204 in \d+ ms$/).click();
    await row.getByTestId("attempts").locator("tbody tr").filter({ hasText: "HTTP 204" }).waitFor();
  });

  it("shows a delivery that kept failing as failed, and Redeliver makes it succeed", async () => {
    receiver.behaviour = () => ({ status: 500 });
    const eventId = await creditNote(7);
    // The dispatcher backs off between attempts; the test clock steps over it until Tally gives up.
    for (let step = 0; (await t.tally.events.backlog()).pending > 0; step++) {
      assert.ok(step < 60, "the delivery was never given up");
      await t.tally.events.dispatcher.settle(timeoutMs);
      t.clock.advanceMs(hourMs);
    }
    assert.equal((await t.tally.events.backlog()).failed, 1);
    const failedAttempts = receiver.requests.filter((request) => request.webhookId === eventId).length;
    assert.ok(failedAttempts >= 2, `${failedAttempts} attempts`);

    const deliveries = page.getByRole("region", { name: `Deliveries to ${receiver.url}` });
    await deliveries.getByRole("button", { name: "Refresh" }).click();
    const row = eventRow(eventId);
    await row.getByText("Failed", { exact: true }).waitFor();
    await row.getByText(new RegExp(`^${failedAttempts} attempts, last: HTTP 500 in \\d+ ms$`)).click();
    assert.equal(await row.getByTestId("attempts").locator("tbody tr").filter({ hasText: "HTTP 500" }).count(), failedAttempts);
    await page.getByRole("region", { name: "Endpoints" }).getByRole("button", { name: "Refresh" }).click();
    await endpointRow().getByText("0 pending, 1 failed").waitFor();
    await page.screenshot({ path: path.join(artifactsDir, "dashboard-endpoints.png"), fullPage: true });
    await page.setViewportSize(phone);
    await assertNoPageScroll(page, timeoutMs);
    await page.screenshot({ path: path.join(artifactsDir, "dashboard-endpoints-390.png"), fullPage: true });
    await page.setViewportSize(desktop);

    // The receiver answers slowly, so the page's first reload after the click shows the delivery
    // pending: the table must follow it to the end on its own (it once stopped at that first reload).
    receiver.behaviour = () => ({ status: 204, delayMs: 1500 });
    await row.getByRole("button", { name: "Redeliver" }).click();
    await row.getByRole("status").filter({ hasText: "Redelivery scheduled." }).waitFor();
    await row.getByText("Pending", { exact: true }).waitFor();
    // The table follows the redelivery until it is delivered: no reload needed.
    await row.getByText("Delivered", { exact: true }).waitFor();
    await row.getByText(/^\d+ attempts, last: HTTP 204 in \d+ ms$/).waitFor();
    const redelivered = receiver.requests.at(-1)!;
    assert.equal(redelivered.webhookId, eventId);
    assert.deepEqual(redelivered.verifiedWith, [0]);
    assert.equal(keys.RedeliverEvent?.length, 1);
    assert.match(keys.RedeliverEvent![0]!, /^[0-9a-f-]{36}$/);
  });

  it("rotates the secret after a confirmation: the new one is shown once, deliveries verify with both", async () => {
    await endpointRow().getByRole("button", { name: "Rotate secret…" }).click();
    const confirmation = page.getByRole("alertdialog", { name: "Rotate this endpoint's secret?" });
    await confirmation.getByText("The current secret stays valid for 24 hours", { exact: false }).waitFor();
    await confirmation.getByRole("button", { name: "Rotate secret" }).click();
    const notice = page.getByTestId("new-secret");
    await notice.getByText("Secret rotated").waitFor();
    const rotated = (await notice.getByTestId("secret-value").textContent()) ?? "";
    assert.match(rotated, /^whsec_/);
    assert.notEqual(rotated, secret);
    await endpointRow().getByTestId("rotation").waitFor();
    await endpointRow().getByText(`${rotated.slice(0, 10)}...`).waitFor();

    receiver.secrets = [secret, rotated];
    const during = await creditNote(3);
    assert.deepEqual(receiver.requests.find((request) => request.webhookId === during)!.verifiedWith, [0, 1]);
    // A receiver that already switched to the new secret alone accepts it too.
    receiver.secrets = [rotated];
    const switched = await creditNote(4);
    assert.deepEqual(receiver.requests.find((request) => request.webhookId === switched)!.verifiedWith, [0]);
    assert.deepEqual(receiver.refused, []);
    await notice.getByRole("button", { name: "Done, hide it" }).click();
  });

  it("refuses a reader's removal with the permission message, and removes the endpoint for an admin after a confirmation", async () => {
    await setToken(page, readerToken);
    await endpointRow().getByRole("button", { name: "Remove…" }).click();
    await page.getByRole("alertdialog", { name: "Remove this endpoint?" }).getByRole("button", { name: "Remove endpoint" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: `token "viewer" has role reader; usage.v1.EventService/RemoveEndpoint changes data and needs role admin: the API token's role does not allow this.` })
      .waitFor();
    assert.equal((await t.tally.events.service.listEndpoints()).length, 1);

    await setToken(page, adminToken);
    await endpointRow().getByRole("button", { name: "Remove…" }).click();
    const confirmation = page.getByRole("alertdialog", { name: "Remove this endpoint?" });
    await confirmation.getByText("Its events and delivery attempts stay listed.").waitFor();
    await confirmation.getByRole("button", { name: "Remove endpoint" }).click();
    await page.getByRole("status").filter({ hasText: `Removed ${receiver.url}.` }).waitFor();
    await page.getByText("No endpoint yet: add one below.").waitFor();
    assert.deepEqual(await t.tally.events.service.listEndpoints(), []);
    // The refused attempt and the admin's are two actions (the page reloaded with the new token): two keys.
    assert.equal(keys.RemoveEndpoint?.length, 2);
    assert.ok(keys.RemoveEndpoint!.every((key) => /^[0-9a-f-]{36}$/.test(key)));
    // The events stay listed with their deliveries.
    await page.getByRole("region", { name: "Recent events and deliveries" }).getByText("credit_note.added").first().waitFor();

    const audit = await listAuditEntries(t.tally.database.db, { attributionId: undefined, beforeId: undefined, limit: 100 });
    const rows = audit.filter((entry) => entry.procedure.startsWith("usage.v1.EventService/")).map((entry) => `${entry.actor} ${entry.procedure.split("/")[1]} ${entry.outcome}`);
    assert.deepEqual(rows.reverse(), ["ops AddEndpoint OK", "ops RedeliverEvent OK", "ops RotateEndpointSecret OK", "viewer RemoveEndpoint PERMISSION_DENIED", "ops RemoveEndpoint OK"]);
    // The secret is never written to the audit log.
    assert.equal(audit.some((entry) => JSON.stringify(entry.details).includes(secret.slice(6))), false);
    assert.deepEqual(problems, []);
  });
});

async function setToken(page: Page, token: string): Promise<void> {
  await page.getByRole("button", { name: /API token/ }).click();
  await page.getByLabel("Bearer token").fill(token);
  await page.getByRole("button", { name: "Save" }).click();
}
