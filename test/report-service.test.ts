// ReportService (Tally's own, read-only) over a real port, with a Connect client speaking gRPC.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LedgerEntry_Kind, ReportService } from "../src/gen/usage/v1/report_pb.js";
import { CostCenter_BillingStrategy } from "../src/gen/usage/v1/usage_pb.js";
import { TallyError } from "../src/domain/tally-error.js";
import { ReportService as ReportServiceImpl } from "../src/services/report-service.js";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { bookInstanceUsage, teamId, userId } from "./support/ledger-fixtures.js";
import { rejectsConnect, startTestTally, type TestTally } from "./support/test-tally.js";

const day = 24 * 60 * 60 * 1000;

describe("ReportService", () => {
  let t: TestTally;
  let reports: Client<typeof ReportService>;
  before(async () => {
    t = await startTestTally();
    reports = createClient(ReportService, createGrpcTransport({ baseUrl: t.tally.url }));
  });
  after(async () => {
    await t?.stop();
  });

  describe("ListCostCenterVersions", () => {
    it("lists nothing for an attribution id without a cost center, and creates none", async () => {
      const id = teamId();
      const response = await reports.listCostCenterVersions({ attributionId: id });
      assert.equal(response.versions.length, 0);
      assert.equal(response.pagination?.total, 0n);
      assert.equal((await listCostCenterHistory(t.tally.database.db, id)).length, 0);
    });

    it("lists every version newest first, paged", async () => {
      const id = teamId();
      await t.usage.getCostCenter({ attributionId: id });
      for (const spendingLimit of [100, 250]) {
        t.clock.advanceMs(60_000);
        await t.usage.setCostCenter({ costCenter: { attributionId: id, spendingLimit, billingStrategy: CostCenter_BillingStrategy.OTHER } });
      }
      const all = await reports.listCostCenterVersions({ attributionId: id });
      assert.deepEqual(all.versions.map((v) => [v.version, v.costCenter?.spendingLimit]), [[3, 250], [2, 100], [1, 0]]);
      assert.deepEqual(timestampDate(all.versions[0]!.createdTime!), t.clock.now());
      assert.ok(all.versions.every((v) => v.costCenter?.attributionId === id));
      const second = await reports.listCostCenterVersions({ attributionId: id, pagination: { perPage: 2n, page: 2n } });
      assert.deepEqual(second.versions.map((v) => v.version), [1]);
      assert.deepEqual(
        [second.pagination?.total, second.pagination?.totalPages, second.pagination?.page, second.pagination?.perPage],
        [3n, 2n, 2n, 2n],
      );
    });

    it("rejects a bad attribution id and paging out of range, naming the field", async () => {
      await rejectsConnect(reports.listCostCenterVersions({ attributionId: "team:xyz" }), Code.InvalidArgument, /^attribution_id "team:xyz"/);
      await rejectsConnect(
        reports.listCostCenterVersions({ attributionId: teamId(), pagination: { perPage: 1001n } }),
        Code.InvalidArgument,
        /pagination.per_page 1001 must be between 0 and 1000/,
      );
      await rejectsConnect(
        reports.listCostCenterVersions({ attributionId: teamId(), pagination: { page: -1n } }),
        Code.InvalidArgument,
        /pagination.page -1 must not be negative/,
      );
    });
  });

  describe("ListCreditNotesAndInvoices", () => {
    it("lists credit notes and reset invoices, newest first, but no usage", async () => {
      const id = userId();
      await t.usage.getCostCenter({ attributionId: id }); // user default: 500 credits
      await bookInstanceUsage(t.tally.database.db, [{ attributionId: id, creditCents: 70_000n, effectiveTime: t.clock.now() }]);
      const start = t.clock.now();
      await t.usage.addUsageCreditNote({ attributionId: id, credits: 12, description: "  outage on 2026-01-14 " });
      try {
        t.clock.advanceMs(40 * day);
        await t.usage.getCostCenter({ attributionId: id }); // resets: an invoice of -500 credits
        const { entries, pagination } = await reports.listCreditNotesAndInvoices({ attributionId: id });
        assert.deepEqual(
          entries.map((e) => [e.kind, e.creditCents, e.description]),
          [
            [LedgerEntry_Kind.INVOICE, -50_000n, "Balanced out at the end of the billing cycle"],
            [LedgerEntry_Kind.CREDIT_NOTE, -1_200n, "outage on 2026-01-14"],
          ],
        );
        assert.deepEqual(timestampDate(entries[1]!.effectiveTime!), start);
        assert.equal(pagination?.total, 2n);
      } finally {
        t.clock.set(start);
      }
    });

    it("records the user a credit note was booked for in its metadata", async () => {
      const id = teamId();
      const user = randomUUID();
      await t.usage.addUsageCreditNote({ attributionId: id, credits: 3, description: "goodwill", userId: user });
      const { entries } = await reports.listCreditNotesAndInvoices({ attributionId: id });
      assert.deepEqual(JSON.parse(entries[0]!.metadata), { userId: user });
    });
  });

  describe("ListDailyUsage", () => {
    const at = (text: string) => new Date(text);

    it("sums usage per UTC day and workspace class, drafts included, credit notes not", async () => {
      const id = teamId();
      await bookInstanceUsage(t.tally.database.db, [
        { attributionId: id, creditCents: 100n, effectiveTime: at("2026-01-10T00:00:00Z"), workspaceClass: "g1-standard" },
        { attributionId: id, creditCents: 250n, effectiveTime: at("2026-01-10T23:59:59.999Z"), workspaceClass: "g1-standard" },
        { attributionId: id, creditCents: 40n, effectiveTime: at("2026-01-10T12:00:00Z"), workspaceClass: "g1-large" },
        { attributionId: id, creditCents: 7n, effectiveTime: at("2026-01-11T00:00:00Z"), workspaceClass: "g1-standard", draft: true },
        { attributionId: id, creditCents: 5n, effectiveTime: at("2026-01-12T08:00:00Z"), workspaceClass: "" },
      ]);
      await t.usage.addUsageCreditNote({ attributionId: id, credits: 1, description: "not usage" });
      const response = await reports.listDailyUsage({ attributionId: id });
      assert.deepEqual(
        response.days.map((d) => [timestampDate(d.day!).toISOString().slice(0, 10), d.workspaceClass, d.creditCents, d.entries]),
        [
          ["2026-01-10", "g1-large", 40n, 1n],
          ["2026-01-10", "g1-standard", 350n, 2n],
          ["2026-01-11", "g1-standard", 7n, 1n],
          ["2026-01-12", "", 5n, 1n],
        ],
      );
      assert.equal(response.creditCents, 402n);
      // The default range: the 30 days up to now.
      assert.deepEqual(timestampDate(response.to!), t.clock.now());
      assert.deepEqual(timestampDate(response.from!), new Date(t.clock.now().getTime() - 30 * day));
      // The same total as ListUsage over the same range.
      const listed = await t.usage.listUsage({ attributionId: id, from: response.from, to: response.to });
      assert.equal(listed.creditsUsed, 4.02);
    });

    it("keeps from inclusive and to exclusive, and filters by user", async () => {
      const id = teamId();
      const alice = randomUUID();
      await bookInstanceUsage(t.tally.database.db, [
        { attributionId: id, creditCents: 1n, effectiveTime: at("2025-12-31T23:59:59.999Z") },
        { attributionId: id, creditCents: 20n, effectiveTime: at("2026-01-01T00:00:00Z"), userId: alice },
        { attributionId: id, creditCents: 300n, effectiveTime: at("2026-01-01T06:00:00Z") },
        { attributionId: id, creditCents: 4000n, effectiveTime: at("2026-01-02T00:00:00Z") },
      ]);
      const range = { from: timestampFromDate(at("2026-01-01T00:00:00Z")), to: timestampFromDate(at("2026-01-02T00:00:00Z")) };
      const all = await reports.listDailyUsage({ attributionId: id, ...range });
      assert.deepEqual(all.days.map((d) => d.creditCents), [320n]);
      const onlyAlice = await reports.listDailyUsage({ attributionId: id, ...range, userId: alice.toUpperCase() });
      assert.deepEqual(onlyAlice.days.map((d) => [d.creditCents, d.entries]), [[20n, 1n]]);
    });

    it("refuses more rows than its limit instead of truncating", async () => {
      const id = teamId();
      await bookInstanceUsage(t.tally.database.db, [
        { attributionId: id, creditCents: 1n, effectiveTime: at("2026-01-10T00:00:00Z") },
        { attributionId: id, creditCents: 1n, effectiveTime: at("2026-01-11T00:00:00Z") },
        { attributionId: id, creditCents: 1n, effectiveTime: at("2026-01-12T00:00:00Z") },
      ]);
      const small = new ReportServiceImpl({ db: t.tally.database.db, clock: t.clock, dailyUsageRowsMax: 2, defaultSpendingLimit: { forTeams: 0, forUsers: 500 } });
      const input = { attributionId: id, from: undefined, to: undefined, userId: "" };
      await assert.rejects(small.dailyUsage(input), (e: unknown) => e instanceof TallyError && e.code === "ResourceExhausted" && /more than 2 rows/.test(e.message));
      const enough = new ReportServiceImpl({ db: t.tally.database.db, clock: t.clock, dailyUsageRowsMax: 3, defaultSpendingLimit: { forTeams: 0, forUsers: 500 } });
      assert.equal((await enough.dailyUsage(input)).rows.length, 3);
    });

    it("rejects bad ids, users and ranges, naming the field", async () => {
      const now = t.clock.now();
      await rejectsConnect(reports.listDailyUsage({ attributionId: "org:x" }), Code.InvalidArgument, /unknown kind "org"/);
      await rejectsConnect(reports.listDailyUsage({ attributionId: teamId(), userId: "bob" }), Code.InvalidArgument, /^user_id "bob"/);
      await rejectsConnect(
        reports.listDailyUsage({ attributionId: teamId(), from: timestampFromDate(new Date(now.getTime() + day)) }),
        Code.InvalidArgument,
        /must not be after to/,
      );
      await rejectsConnect(
        reports.listDailyUsage({ attributionId: teamId(), from: timestampFromDate(new Date(now.getTime() - 301 * day)) }),
        Code.InvalidArgument,
        /longer than 300 days/,
      );
      await rejectsConnect(
        reports.listDailyUsage({ attributionId: teamId(), to: { seconds: 1n, nanos: -1 } }),
        Code.InvalidArgument,
        /^to nanos -1/,
      );
    });
  });
});
