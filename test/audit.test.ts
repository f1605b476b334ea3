// The audit log: every mutating RPC writes a row (actor, procedure, attribution id, request,
// outcome), readable through usage.v1.AuditService.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuditService } from "../src/gen/usage/v1/audit_pb.js";
import { CostCenter_BillingStrategy, UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceService } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const adminToken = "admin-token-0123456789abcdef";
const readerToken = "reader-token-0123456789abcdef";
const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("audit log with access control on", () => {
  let t: TestTally;
  let usage: Client<typeof UsageService>;
  let audit: Client<typeof AuditService>;
  before(async () => {
    t = await startTestTally({ env: { TALLY_API_TOKENS: `ops:admin:${adminToken},grafana:reader:${readerToken}` } });
    const transport = createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" });
    usage = createClient(UsageService, transport);
    audit = createClient(AuditService, transport);
  });
  after(async () => {
    await t?.stop();
  });
  const entriesOf = async (attributionId: string) => (await audit.listAuditEntries({ attributionId }, as(readerToken))).entries;

  it("records a credit note with its actor, attribution id, request, outcome and request id", async () => {
    const id = teamId();
    await usage.addUsageCreditNote(
      { attributionId: id, credits: 25, description: "goodwill for the outage" },
      { headers: { ...as(adminToken).headers, "x-request-id": "req-credit-1" } },
    );
    const [entry, ...rest] = await entriesOf(id);
    assert.equal(rest.length, 0);
    assert.equal(entry!.actor, "ops");
    assert.equal(entry!.procedure, "usage.v1.UsageService/AddUsageCreditNote");
    assert.equal(entry!.attributionId, id);
    assert.deepEqual(JSON.parse(entry!.details), { attributionId: id, credits: 25, description: "goodwill for the outage" });
    assert.equal(entry!.outcome, "OK");
    assert.equal(entry!.errorMessage, "");
    assert.equal(entry!.requestId, "req-credit-1");
    assert.equal(entry!.time?.seconds, BigInt(t.clock.now().getTime() / 1000));
  });

  it("records refused and failed mutations with their code, and the attribution id nested in a cost center", async () => {
    const id = teamId().toUpperCase().replace("TEAM:", "team:");
    const costCenter = { attributionId: id, spendingLimit: -5, billingStrategy: CostCenter_BillingStrategy.OTHER };
    await assert.rejects(usage.setCostCenter({ costCenter }, as(adminToken)), (e: ConnectError) => e.code === Code.InvalidArgument);
    await assert.rejects(usage.setCostCenter({ costCenter }, as(readerToken)), (e: ConnectError) => e.code === Code.PermissionDenied);
    const entries = await entriesOf(id.toLowerCase());
    assert.deepEqual(
      entries.map((e) => [e.actor, e.outcome]),
      [["grafana", "PERMISSION_DENIED"], ["ops", "INVALID_ARGUMENT"]],
    );
    assert.equal(entries[0]!.attributionId, id.toLowerCase(), "stored in canonical form");
    assert.match(entries[1]!.errorMessage, /spending_limit -5 must not be negative/);
    assert.equal(JSON.parse(entries[1]!.details).costCenter.spendingLimit, -5);
  });

  it("records nothing for reads or for callers without a valid token", async () => {
    const id = teamId();
    await usage.getBalance({ attributionId: id }, as(readerToken));
    // The first GetCostCenter creates the cost center: that one row is the system's (see
    // access-fail-closed.test.ts); reading it again records nothing.
    await usage.getCostCenter({ attributionId: id }, as(adminToken));
    const created = await entriesOf(id);
    assert.deepEqual(created.map((e) => e.actor), ["system"]);
    await usage.getCostCenter({ attributionId: id }, as(adminToken));
    await usage.getBalance({ attributionId: id }, as(readerToken));
    await assert.rejects(usage.addUsageCreditNote({ attributionId: id, credits: 1, description: "x" }));
    await assert.rejects(usage.addUsageCreditNote({ attributionId: id, credits: 1, description: "x" }, as("guessed-token-guessed")));
    assert.deepEqual(await entriesOf(id), created);
  });

  it("records mutations without an attribution id, such as ResetUsage", async () => {
    await usage.resetUsage({}, as(adminToken));
    const { entries } = await audit.listAuditEntries({ pageSize: 1 }, as(adminToken));
    assert.equal(entries[0]!.procedure, "usage.v1.UsageService/ResetUsage");
    assert.equal(entries[0]!.attributionId, "");
  });

  it("records a batch of instances by its size, and a small one whole", async () => {
    const instances = createClient(WorkspaceInstanceService, createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" }));
    const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ id: randomUUID(), workspaceId: `ws-${i}` }));
    await instances.upsertWorkspaceInstances({ instances: batch(150) }, as(adminToken));
    let { entries } = await audit.listAuditEntries({ pageSize: 1 }, as(adminToken));
    assert.equal(entries[0]!.procedure, "usage.v1.WorkspaceInstanceService/UpsertWorkspaceInstances");
    assert.deepEqual(JSON.parse(entries[0]!.details), { instances: { count: 150, omitted: true } });
    const small = batch(2);
    await instances.upsertWorkspaceInstances({ instances: small }, as(adminToken));
    ({ entries } = await audit.listAuditEntries({ pageSize: 1 }, as(adminToken)));
    assert.deepEqual(JSON.parse(entries[0]!.details), { instances: small });
  });

  it("records a request whose values proto JSON cannot express, and still answers InvalidArgument", async () => {
    const from = { seconds: 999_999_999_999n, nanos: 0 };
    await assert.rejects(usage.reconcileUsage({ from, to: from }, as(adminToken)), (e: ConnectError) => e.code === Code.InvalidArgument);
    const { entries } = await audit.listAuditEntries({ pageSize: 1 }, as(adminToken));
    assert.equal(entries[0]!.procedure, "usage.v1.UsageService/ReconcileUsage");
    assert.equal(entries[0]!.outcome, "INVALID_ARGUMENT");
    assert.equal(JSON.parse(entries[0]!.details).unencodable, true);
  });

  it("records requests with NUL characters (PostgreSQL text and jsonb refuse them), shown as U+FFFD", async () => {
    const id = teamId();
    const description = "credit\u0000note";
    await assert.rejects(usage.addUsageCreditNote({ attributionId: id, credits: 1, description }, as(adminToken)), (e: ConnectError) => e.code === Code.InvalidArgument);
    const [entry] = await entriesOf(id);
    assert.equal(entry?.outcome, "INVALID_ARGUMENT");
    assert.equal(JSON.parse(entry!.details).description, "credit\ufffdnote");
    await assert.rejects(usage.addUsageCreditNote({ attributionId: `${id}\u0000`, credits: 1, description: "x" }, as(adminToken)));
    const { entries } = await audit.listAuditEntries({ pageSize: 1 }, as(adminToken));
    assert.equal(entries[0]!.attributionId, `${id}\ufffd`);
    assert.equal((await t.tally.metrics.auditWriteFailures.get()).values[0]?.value ?? 0, 0);
  });

  it("pages newest first with page tokens, and refuses bad paging input", async () => {
    const id = teamId();
    for (let i = 1; i <= 5; i++) await usage.addUsageCreditNote({ attributionId: id, credits: i, description: `note ${i}` }, as(adminToken));
    const seen: number[] = [];
    let pageToken = "";
    do {
      const page = await audit.listAuditEntries({ attributionId: id, pageSize: 2, pageToken }, as(readerToken));
      assert.ok(page.entries.length <= 2);
      seen.push(...page.entries.map((e) => JSON.parse(e.details).credits as number));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    assert.deepEqual(seen, [5, 4, 3, 2, 1]);
    for (const request of [{ pageSize: 1001 }, { pageSize: -1 }, { pageToken: "abc" }, { pageToken: "9999999999999999999" }, { attributionId: "team:nope" }]) {
      await assert.rejects(audit.listAuditEntries(request, as(readerToken)), (e: ConnectError) => e.code === Code.InvalidArgument);
    }
  });
});
