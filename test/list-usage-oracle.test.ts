// Property: ListUsage and ListDailyUsage, which read daily totals kept beside the ledger plus the
// ledger's edges, answer exactly what a plain SQL query over the whole ledger answers, for random
// ledgers (instances reported, reconciled, drafts turning final, entries across many days and
// users, credit notes and invoices interleaved) and random ranges, pages, orders and user filters.
// After every history the stored daily totals equal the ledger grouped by day.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { ManualClock } from "../src/domain/clock.js";
import { sourceKeys } from "../src/domain/ledger-entry.js";
import { ReportService } from "../src/gen/usage/v1/report_pb.js";
import { ListUsageRequest_Ordering } from "../src/gen/usage/v1/usage_pb.js";
import { lockAttribution } from "../src/store/balances.js";
import { insertEntries } from "../src/store/ledger.js";
import { rowsOf } from "../src/store/raw-result.js";
import { inTransaction } from "../src/store/transactions.js";
import { bookInstanceUsage, teamId } from "./support/ledger-fixtures.js";
import { instanceClient, instanceReport, type InstanceClient } from "./support/instances.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
const classes = ["g1-standard", "g1-large", ""];
const runs = Math.min(Number(process.env.TALLY_FUZZ_RUNS ?? 25), 25);

type Op =
  | { kind: "book"; team: number; user: number; cls: number; backMs: number; cents: number; draft: boolean; count: number }
  | { kind: "start"; instance: number; team: number; user: number; cls: number; agoMs: number }
  | { kind: "stop"; instance: number }
  | { kind: "advance"; ms: number }
  | { kind: "reconcile" }
  | { kind: "credit"; team: number; credits: number }
  | { kind: "invoice"; team: number; cents: number };

const team = fc.integer({ min: 0, max: 1 });
const user = fc.integer({ min: 0, max: 2 }); // 2: no user
const cls = fc.integer({ min: 0, max: classes.length - 1 });
const instance = fc.integer({ min: 0, max: 3 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("book" as const),
      team,
      user,
      cls,
      // Mostly the last days; some weeks back, so a user's entries span two UTC months.
      backMs: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -day, max: 5 * day }) }, { weight: 1, arbitrary: fc.integer({ min: -day, max: 40 * day }) }),
      cents: fc.integer({ min: 0, max: 50_000 }),
      draft: fc.boolean(),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("start" as const), instance, team, user, cls, agoMs: fc.integer({ min: 0, max: 30 * hour }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("stop" as const), instance }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: minute, max: 30 * hour }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "reconcile" as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("credit" as const), team, credits: fc.integer({ min: 1, max: 500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("invoice" as const), team, cents: fc.integer({ min: 1, max: 90_000 }) }) },
);

interface Query {
  team: number;
  user: number;
  /** Range start, back from now; null: the defaults (to = now, from = to - 300 days). */
  fromBackMs: number | null;
  spanMs: number;
  ascending: boolean;
  perPage: number;
  page: number;
}
const query: fc.Arbitrary<Query> = fc.record({
  team,
  user: fc.integer({ min: 0, max: 3 }), // 2, 3: no filter
  fromBackMs: fc.option(fc.oneof(fc.integer({ min: -day, max: 6 * day }), fc.integer({ min: -day, max: 45 * day })), { freq: 5 }),
  // Up to a week, or up to 45 days: whole UTC months (a user's totals) and their edges.
  spanMs: fc.oneof(fc.integer({ min: 0, max: 7 * day }), fc.constantFrom(0, day, 2 * day, 7 * day), fc.integer({ min: 0, max: 45 * day })),
  ascending: fc.boolean(),
  perPage: fc.integer({ min: 1, max: 6 }),
  page: fc.integer({ min: 0, max: 12 }),
});

interface OracleRow {
  id: string;
  effective_time: Date | string;
  credit_cents: bigint | string | number;
  workspace_class: string;
}

describe("ListUsage and daily usage against a plain SQL oracle", () => {
  let t: TestTally;
  let instances: InstanceClient;
  let reports: Client<typeof ReportService>;
  before(async () => {
    t = await startTestTally({
      // Early in a month: the ledger's weeks span the UTC month before it too.
      clock: new ManualClock(new Date("2026-03-03T06:00:00Z")),
      env: { TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify({ "g1-standard": 1 / 6, "g1-large": 0.5 }) },
    });
    instances = instanceClient(t);
    reports = createClient(ReportService, createGrpcTransport({ baseUrl: t.tally.url }));
  });
  after(async () => {
    instances?.close();
    await t?.stop();
  });

  it("answers exactly what SQL over the whole ledger answers", async () => {
    const db = t.tally.database.db;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 15, maxLength: 30 }), fc.array(query, { minLength: 4, maxLength: 8 }), async (ops, queries) => {
        const teams = [teamId(), teamId()];
        const users = [randomUUID(), randomUUID()];
        const instanceIds = Array.from({ length: 4 }, () => randomUUID());
        const now = () => t.clock.now();
        for (const o of ops) {
          switch (o.kind) {
            case "book":
              // `count` entries an hour apart (some at the same time, so ties are ordered by id).
              await bookInstanceUsage(
                db,
                Array.from({ length: o.count }, (_, k) => ({
                  attributionId: teams[o.team]!,
                  creditCents: BigInt(o.cents + k),
                  effectiveTime: new Date(now().getTime() - o.backMs - Math.floor(k / 2) * hour),
                  ...(o.user < 2 ? { userId: users[o.user]! } : {}),
                  workspaceClass: classes[(o.cls + k) % classes.length]!,
                  draft: o.draft,
                })),
              );
              break;
            case "start":
              await instances.methods.upsertWorkspaceInstances({
                instances: [
                  instanceReport({
                    id: instanceIds[o.instance]!,
                    attributionId: teams[o.team]!,
                    ...(o.user < 2 ? { userId: users[o.user]! } : {}),
                    workspaceClass: classes[o.cls]!,
                    startedTime: new Date(now().getTime() - o.agoMs),
                  }),
                ],
              });
              break;
            case "stop":
              await instances.methods.upsertWorkspaceInstances({
                instances: [instanceReport({ id: instanceIds[o.instance]!, stoppingTime: now(), stoppedTime: now() })],
              });
              break;
            case "advance":
              t.clock.advanceMs(o.ms);
              break;
            case "reconcile":
              await t.usage.reconcileUsage({ from: timestampFromDate(new Date(now().getTime() - 20 * day)), to: timestampFromDate(now()) });
              break;
            case "credit":
              await t.tally.ledger.addCreditNote({ attributionId: teams[o.team]!, credits: o.credits, description: "oracle", userId: users[0]! });
              break;
            case "invoice":
              await inTransaction(db, async (tx) => {
                await lockAttribution(tx, teams[o.team]!, now());
                const id = randomUUID();
                await insertEntries(
                  tx,
                  [
                    {
                      id,
                      attributionId: teams[o.team]!,
                      sourceKey: sourceKeys.invoice(id),
                      kind: "invoice",
                      description: "oracle invoice",
                      creditCents: -BigInt(o.cents),
                      effectiveTime: now(),
                      workspaceInstanceId: null,
                      draft: false,
                      metadata: { userId: users[1]!, workspaceClass: "g1-standard" },
                    },
                  ],
                  now(),
                );
              });
              break;
          }
        }

        for (const q of queries) {
          const attributionId = teams[q.team]!;
          const userId = q.user < 2 ? users[q.user]! : undefined;
          const to = q.fromBackMs === null ? now() : new Date(now().getTime() - q.fromBackMs + q.spanMs);
          const from = q.fromBackMs === null ? new Date(to.getTime() - 300 * day) : new Date(now().getTime() - q.fromBackMs);
          const rows = rowsOf<OracleRow>(
            await db.execute(sql`
              SELECT id::text AS id, effective_time, credit_cents, coalesce(metadata ->> 'workspaceClass', '') AS workspace_class
              FROM usage
              WHERE attribution_id = ${attributionId} AND kind = 'workspaceinstance'
                AND effective_time >= ${from.toISOString()}::timestamptz AND effective_time < ${to.toISOString()}::timestamptz
                ${userId ? sql`AND metadata ->> 'userId' = ${userId}` : sql``}
              ORDER BY effective_time ${q.ascending ? sql`ASC` : sql`DESC`}, id ${q.ascending ? sql`ASC` : sql`DESC`}`),
          );
          const total = rows.length;
          const sumCents = rows.reduce((sum, row) => sum + BigInt(row.credit_cents), 0n);
          const first = (Math.max(q.page, 1) - 1) * q.perPage;
          const expectedIds = rows.slice(first, first + q.perPage).map((row) => row.id);

          const response = await t.usage.listUsage({
            attributionId,
            ...(q.fromBackMs === null ? {} : { from: timestampFromDate(from), to: timestampFromDate(to) }),
            order: q.ascending ? ListUsageRequest_Ordering.ASCENDING : ListUsageRequest_Ordering.DESCENDING,
            pagination: { perPage: BigInt(q.perPage), page: BigInt(q.page) },
            userId: userId ?? "",
          });
          const context = JSON.stringify({ q, from, to, total });
          assert.deepEqual(response.usageEntries.map((entry) => entry.id), expectedIds, context);
          assert.equal(response.pagination?.total, BigInt(total), context);
          assert.equal(response.pagination?.totalPages, BigInt(Math.ceil(total / q.perPage)), context);
          assert.equal(response.creditsUsed, Number(sumCents) / 100, context);

          if (to.getTime() - from.getTime() <= 300 * day) {
            const daily = await reports.listDailyUsage({ attributionId, from: timestampFromDate(from), to: timestampFromDate(to), userId: userId ?? "" });
            const expectedDays = new Map<string, { cents: bigint; entries: number }>();
            for (const row of rows) {
              const time = row.effective_time instanceof Date ? row.effective_time : new Date(row.effective_time);
              const key = `${time.toISOString().slice(0, 10)}|${row.workspace_class}`;
              const sum = expectedDays.get(key) ?? { cents: 0n, entries: 0 };
              expectedDays.set(key, { cents: sum.cents + BigInt(row.credit_cents), entries: sum.entries + 1 });
            }
            const expected = [...expectedDays.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
            assert.deepEqual(
              daily.days.map((d) => [`${timestampDate(d.day!).toISOString().slice(0, 10)}|${d.workspaceClass}`, d.creditCents, Number(d.entries)]),
              expected.map(([key, sum]) => [key, sum.cents, sum.entries]),
              context,
            );
          }
        }

        // The stored totals are the ledger grouped by attribution id, day and class (all users), and
        // by attribution id, user and month (entries that name a user).
        const mismatches = rowsOf<Record<string, unknown>>(
          await db.execute(sql`
            WITH truth AS (
              SELECT attribution_id, '' AS user_id, (effective_time AT TIME ZONE 'UTC')::date AS day,
                coalesce(metadata ->> 'workspaceClass', '') AS workspace_class, count(*)::int8 AS entries, sum(credit_cents)::int8 AS credit_cents
              FROM usage
              WHERE kind = 'workspaceinstance' AND attribution_id IN (${teams[0]!}, ${teams[1]!})
              GROUP BY 1, 2, 3, 4
              UNION ALL
              SELECT attribution_id, metadata ->> 'userId', date_trunc('month', effective_time AT TIME ZONE 'UTC')::date, '',
                count(*)::int8, sum(credit_cents)::int8
              FROM usage
              WHERE kind = 'workspaceinstance' AND attribution_id IN (${teams[0]!}, ${teams[1]!}) AND coalesce(metadata ->> 'userId', '') <> ''
              GROUP BY 1, 2, 3, 4
            ), stored AS (
              SELECT attribution_id, '' AS user_id, day, workspace_class, entries, credit_cents FROM usage_daily_totals
              WHERE attribution_id IN (${teams[0]!}, ${teams[1]!}) AND (entries <> 0 OR credit_cents <> 0)
              UNION ALL
              SELECT attribution_id, user_id, month, '', entries, credit_cents FROM usage_user_monthly_totals
              WHERE attribution_id IN (${teams[0]!}, ${teams[1]!}) AND (entries <> 0 OR credit_cents <> 0)
            )
            (SELECT 'missing' AS what, * FROM truth EXCEPT SELECT 'missing', * FROM stored)
            UNION ALL
            (SELECT 'extra', * FROM stored EXCEPT SELECT 'extra', * FROM truth)`),
        );
        assert.deepEqual(mismatches, []);
      }),
      { numRuns: runs },
    );
  });
});
