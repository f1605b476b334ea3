// ReportService.ListAccounts, the dashboard's team list: balance, limit (or the default), status per
// the configured warning percentage, last activity; searched, sorted and paged by the server.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AccountSortField, AccountSummary_Status as Status, ReportService } from "../src/gen/usage/v1/report_pb.js";
import { CostCenter_BillingStrategy as Strategy } from "../src/gen/usage/v1/usage_pb.js";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { bookInstanceUsage } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

describe("ReportService.ListAccounts", () => {
  let t: TestTally;
  let reports: Client<typeof ReportService>;
  // Ids of this run share a random first group, so a search for it finds exactly them.
  const prefix = randomBytes(4).toString("hex");
  const id = (kind: "team" | "user", n: number) => `${kind}:${prefix}-0000-4000-8000-${String(n).padStart(12, "0")}`;
  const ok = id("user", 1); // no cost center: the users' default limit of 500; 100 used
  const warning = id("user", 2); // limit 100, 85 used: above 70 %
  const reachedAtZero = id("team", 3); // the teams' default limit of 0, nothing used
  const reached = id("team", 4); // limit 1000, 1000 used
  const blocked = id("team", 5); // limit 1000, 10 used, blocked
  // By attribution id: "team:" before "user:".
  const all = [reachedAtZero, reached, blocked, ok, warning];

  before(async () => {
    t = await startTestTally({ env: { TALLY_LIMIT_WARNING_PERCENT: "70" } });
    reports = createClient(ReportService, createGrpcTransport({ baseUrl: t.tally.url }));
    const db = t.tally.database.db;
    const setLimit = (attributionId: string, spendingLimit: number) =>
      t.usage.setCostCenter({ costCenter: { attributionId, spendingLimit, billingStrategy: Strategy.OTHER } });
    await bookInstanceUsage(db, [{ attributionId: ok, creditCents: 10_000n, effectiveTime: t.clock.now() }]);
    await setLimit(warning, 100);
    await bookInstanceUsage(db, [{ attributionId: warning, creditCents: 8_500n, effectiveTime: t.clock.now() }]);
    await t.usage.getCostCenter({ attributionId: reachedAtZero });
    await setLimit(reached, 1000);
    await bookInstanceUsage(db, [{ attributionId: reached, creditCents: 100_000n, effectiveTime: t.clock.now() }]);
    await setLimit(blocked, 1000);
    await bookInstanceUsage(db, [{ attributionId: blocked, creditCents: 1_000n, effectiveTime: t.clock.now() }]);
    await t.tally.billing.accounts.block({ attributionId: blocked, reason: "dispute", source: `test:${prefix}` });
  });
  after(async () => {
    await t?.stop();
  });

  it("lists each attribution id with balance, limit or its default, strategy and status", async () => {
    const response = await reports.listAccounts({ search: prefix });
    assert.equal(response.limitWarningPercent, 70);
    assert.deepEqual(
      response.accounts.map((a) => [a.attributionId, a.balanceCreditCents, a.spendingLimit, a.hasCostCenter, a.billingStrategy, a.status]),
      [
        [reachedAtZero, 0n, 0, true, Strategy.OTHER, Status.REACHED],
        [reached, 100_000n, 1000, true, Strategy.OTHER, Status.REACHED],
        [blocked, 1_000n, 1000, true, Strategy.OTHER, Status.BLOCKED],
        [ok, 10_000n, 500, false, Strategy.OTHER, Status.OK],
        [warning, 8_500n, 100, true, Strategy.OTHER, Status.WARNING],
      ],
    );
    assert.ok(response.accounts.every((a) => a.lastActivityTime !== undefined));
    assert.deepEqual(
      [response.pagination?.total, response.pagination?.totalPages, response.pagination?.page, response.pagination?.perPage],
      [5n, 1n, 1n, 50n],
    );
    // The list agrees with GetAccountStatus, and listing created no cost center.
    assert.deepEqual(await listCostCenterHistory(t.tally.database.db, ok), []);
  });

  it("searches a case-insensitive substring, with LIKE's wildcards taken literally", async () => {
    const found = await reports.listAccounts({ search: `  ${prefix.toUpperCase()}-0000-4000-8000-00000000000 ` });
    assert.equal(found.accounts.length, 5);
    const teams = await reports.listAccounts({ search: `team:${prefix}` });
    assert.deepEqual(teams.accounts.map((a) => a.attributionId), [reachedAtZero, reached, blocked]);
    for (const search of ["%", "_", `${prefix}%`, `${prefix}_`]) {
      const none = await reports.listAccounts({ search });
      assert.deepEqual(none.accounts, [], search);
      assert.equal(none.pagination?.total, 0n);
    }
  });

  it("sorts by every column, ties by attribution id, either way", async () => {
    const sorted = async (sortField: AccountSortField, descending = false) =>
      (await reports.listAccounts({ search: prefix, sortField, descending })).accounts.map((a) => a.attributionId);
    assert.deepEqual(await sorted(AccountSortField.ATTRIBUTION_ID, true), [...all].reverse());
    assert.deepEqual(await sorted(AccountSortField.BALANCE), [reachedAtZero, blocked, warning, ok, reached]);
    assert.deepEqual(await sorted(AccountSortField.BALANCE, true), [reached, ok, warning, blocked, reachedAtZero]);
    assert.deepEqual(await sorted(AccountSortField.SPENDING_LIMIT), [reachedAtZero, warning, ok, reached, blocked]);
    assert.deepEqual(await sorted(AccountSortField.SPENDING_LIMIT, true), [reached, blocked, ok, warning, reachedAtZero]);
    assert.deepEqual(await sorted(AccountSortField.STATUS), [ok, warning, reachedAtZero, reached, blocked]);
    assert.deepEqual(await sorted(AccountSortField.STATUS, true), [blocked, reachedAtZero, reached, warning, ok]);
    const byActivity = (await reports.listAccounts({ search: prefix, sortField: AccountSortField.LAST_ACTIVITY })).accounts;
    const times = byActivity.map((a) => timestampDate(a.lastActivityTime!).getTime());
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
  });

  it("pages on the server; a page past the last is empty", async () => {
    const page = (n: bigint, sortField = AccountSortField.STATUS) =>
      reports.listAccounts({ search: prefix, sortField, pagination: { perPage: 2n, page: n } });
    const pages = await Promise.all([page(1n), page(2n), page(3n)]);
    assert.deepEqual(pages.flatMap((p) => p.accounts.map((a) => a.attributionId)), [ok, warning, reachedAtZero, reached, blocked]);
    assert.deepEqual([pages[2]!.pagination?.total, pages[2]!.pagination?.totalPages, pages[2]!.pagination?.page], [5n, 3n, 3n]);
    const byBalance = await Promise.all([page(1n, AccountSortField.BALANCE), page(2n, AccountSortField.BALANCE), page(3n, AccountSortField.BALANCE)]);
    assert.deepEqual(byBalance.flatMap((p) => p.accounts.map((a) => a.attributionId)), [reachedAtZero, blocked, warning, ok, reached]);
    assert.deepEqual((await page(4n)).accounts, []);
  });

  it("rejects bad paging and a search longer than any attribution id", async () => {
    const rejects = (call: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(call, (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && pattern.test(e.rawMessage));
    await rejects(reports.listAccounts({ pagination: { perPage: 1001n } }), /pagination.per_page 1001/);
    await rejects(reports.listAccounts({ search: "x".repeat(129) }), /^search is 129 characters long/);
  });
});
