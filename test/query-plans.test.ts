// Plans that do not depend on luck: on a database loaded in bulk and never analyzed (no statistics,
// no autovacuum, as right after an import), every hot query is planned on the index made for it.
// The store's own functions run against a handle that EXPLAINs each statement first, in the same
// session and transaction (so per-transaction planner settings count), and the plans are checked:
// the intended indexes appear, and no big table is read whole or sorted for a page.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import pg from "pg";
import type { UsageQuery } from "../src/domain/usage-query.js";
import { getBalanceCents } from "../src/store/balances.js";
import { getCurrentCostCenter, listCurrentAttributionIds } from "../src/store/cost-centers.js";
import { openDatabase, type Database } from "../src/store/database.js";
import { applyInstanceUsage } from "../src/store/instance-usage.js";
import { listUsage } from "../src/store/ledger.js";
import { pgliteStartParams } from "../src/store/pglite-options.js";
import { listAccounts, listCreditNotesAndInvoices, sumDailyUsage } from "../src/store/reports.js";
import * as schema from "../src/store/schema.js";
import { inTransaction } from "../src/store/transactions.js";
import { candidatePage, type CandidateStream } from "../src/store/workspace-instances.js";
import { createTestDatabase, testStoreKind, type TestDatabase } from "./support/test-database.js";

/** Rows of instances and of usage: enough that reading a table whole costs more than its index. */
const rows = testStoreKind === "postgres" ? 40_000 : 20_000;
const day = 24 * 3600_000;
const now = new Date("2026-06-01T12:00:00Z");
const team = (i: number) => `team:00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
const user = (i: number) => `00000000-0000-4000-9000-${String(i).padStart(12, "0")}`;
/** Tables big enough that reading them whole, or sorting a slice of them, is a plan gone wrong. */
const bigTables = ["usage", "workspace_instances", "usage_daily_totals", "usage_user_monthly_totals", "balances", "cost_centers"];

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Index Cond"?: string;
  Plans?: PlanNode[];
}
interface Explained {
  readonly text: string;
  readonly nodes: PlanNode[];
}

// A union of queries starts with their parentheses.
const plannable = /^[\s(]*(select|with|insert|update|delete)\b/i;

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}

describe("query plans without statistics", () => {
  let database: TestDatabase;
  let db: Database;
  let close: () => Promise<void>;
  const explained: Explained[] = [];
  const record = (text: string, plan: unknown) => {
    const root = (Array.isArray(plan) ? plan[0] : plan) as { Plan: PlanNode };
    explained.push({ text, nodes: flatten(root.Plan) });
  };

  before(async () => {
    database = await createTestDatabase();
    const handle = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    await load(handle.db);
    await handle.close();
    ({ db, close } = database.databaseUrl ? explainingPostgres(database.databaseUrl, record) : await explainingPglite(database.dataDir, record));
  });
  after(async () => {
    await close?.();
    await database?.drop();
  });

  /** Runs `work`, then returns the plans of the statements it ran. */
  async function plansOf(work: () => Promise<unknown>): Promise<Explained[]> {
    explained.length = 0;
    await work().catch((error: unknown) => {
      throw new Error(`${String(error)}: ${String((error as { cause?: unknown }).cause)}`);
    });
    assert.ok(explained.length > 0, "no statement was explained");
    // (a failed statement surfaces from work() with its cause)
    return [...explained];
  }

  function assertPlans(plans: Explained[], expectedIndexes: string[], options: { noSort?: boolean; avoid?: string } = {}) {
    const all = plans.flatMap((p) => p.nodes);
    const describe = () => plans.map((p) => `${p.text.replace(/\s+/g, " ").slice(0, 160)}\n  ${p.nodes.map((n) => `${n["Node Type"]}${n["Index Name"] ? `(${n["Index Name"]})` : n["Relation Name"] ? `(${n["Relation Name"]})` : ""}`).join(" > ")}`).join("\n");
    for (const index of expectedIndexes) {
      assert.ok(all.some((n) => n["Index Name"] === index), `expected ${index} in:\n${describe()}`);
    }
    if (options.avoid) assert.ok(!all.some((n) => n["Index Name"] === options.avoid), `${options.avoid} is read:\n${describe()}`);
    const seqScans = all.filter((n) => n["Node Type"] === "Seq Scan" && bigTables.includes(n["Relation Name"] ?? ""));
    assert.deepEqual(seqScans.map((n) => n["Relation Name"]), [], `a big table is read whole:\n${describe()}`);
    // A page (a plan under LIMIT) comes in index order; sorting what it reads would grow with the range.
    const sortedPages = plans.filter((p) => p.nodes.some((n) => n["Node Type"] === "Limit") && p.nodes.some((n) => n["Node Type"].includes("Sort")));
    if (options.noSort) assert.deepEqual(sortedPages.map((p) => p.text.slice(0, 80)), [], `a page is sorted:\n${describe()}`);
  }

  const usageQuery = (overrides: Partial<UsageQuery>): UsageQuery => ({
    attributionId: team(0),
    from: new Date(now.getTime() - 300 * day),
    to: now,
    order: "descending",
    userId: undefined,
    perPage: 50,
    page: 1,
    ...overrides,
  });

  it("GetBalance and the current cost center read by primary key", async () => {
    assertPlans(await plansOf(() => getBalanceCents(db, team(7))), ["balances_pkey"]);
    assertPlans(await plansOf(() => getCurrentCostCenter(db, team(7))), ["cost_centers_attribution_id_version_pk"]);
  });

  it("ListUsage reads daily (one user's monthly) totals and walks the listing index from the page's day (month), first page and late page, with and without user", async () => {
    for (const page of [1, 70]) {
      assertPlans(await plansOf(() => listUsage(db, usageQuery({ page }))), ["usage_daily_totals_pkey", "usage_instance_listing_idx"], { noSort: true });
      assertPlans(await plansOf(() => listUsage(db, usageQuery({ page, order: "ascending" }))), ["usage_daily_totals_pkey", "usage_instance_listing_idx"], { noSort: true });
    }
    for (const order of ["descending", "ascending"] as const) {
      // A page within a month, and pages over several months (the index is walked month by month).
      // User 10 has entries in team 0: a page is read, not only the totals.
      for (const page of [{ page: 2, perPage: 5 }, { page: 1, perPage: 500 }, { page: 2, perPage: 300 }]) {
        const query = usageQuery({ ...page, userId: user(10), order });
        assert.equal((await listUsage(db, query)).entries.length, page.perPage);
        assertPlans(await plansOf(() => listUsage(db, query)), ["usage_user_monthly_totals_pkey", "usage_instance_user_listing_idx"], {
          noSort: true,
          avoid: "usage_instance_listing_idx",
        });
      }
    }
  });

  it("daily usage reads daily totals and the listing index for the edges", async () => {
    const query = { attributionId: team(0), from: new Date(now.getTime() - 100.5 * day), to: now, userId: undefined };
    assertPlans(await plansOf(() => sumDailyUsage(db, query, 10_000)), ["usage_daily_totals_pkey", "usage_instance_listing_idx"]);
    // One user's: that user's entries of the range, from the user listing index.
    assertPlans(await plansOf(() => sumDailyUsage(db, { ...query, userId: user(10) }, 10_000)), ["usage_instance_user_listing_idx"], {
      avoid: "usage_instance_listing_idx",
    });
  });

  it("credit notes and invoices come from their own index", async () => {
    assertPlans(await plansOf(() => listCreditNotesAndInvoices(db, { attributionId: team(0), perPage: 50, page: 1 })), ["usage_payments_idx"]);
  });

  it("the team list pages balances by primary key and looks up only the page's cost centers and blocks", async () => {
    const options = { defaults: { forTeams: 0, forUsers: 500 }, warningPercent: 80 };
    for (const page of [1, 5]) {
      for (const descending of [false, true]) {
        const query = { search: "", sortField: "attributionId" as const, descending, perPage: 50, page };
        const plans = await plansOf(() => listAccounts(db, query, options));
        // The count reads balances (one row per attribution id) whole; the page must not.
        const paged = plans.filter((p) => p.nodes.some((n) => n["Node Type"] === "Limit"));
        assert.equal(paged.length, 1);
        assertPlans(paged, ["balances_pkey", "cost_centers_attribution_id_version_pk", "blocked_attributions_active_idx"]);
      }
    }
  });

  it("the reset job finds due cost centers by index", async () => {
    assertPlans(
      await plansOf(() => listCurrentAttributionIds(db, { strategy: "other", dueBy: now, afterId: "", limit: 100 })),
      ["cost_centers_due_idx", "cost_centers_attribution_id_version_pk"],
    );
  });

  it("each reconcile stream pages through its own index and finds entries by instance id", async () => {
    const window = { from: new Date(now.getTime() - 2 * day), to: now, runningSince: new Date(now.getTime() - 10 * day) };
    const expected: Record<CandidateStream, string[]> = {
      drafts: ["usage_drafts_idx", "workspace_instances_pkey"],
      stopped: ["workspace_instances_stop_idx", "usage_instance_key_idx"],
      running: ["workspace_instances_running_idx", "usage_instance_key_idx"],
      reportedStopped: ["workspace_instances_reported_idx", "usage_instance_key_idx"],
    };
    for (const stream of Object.keys(expected) as CandidateStream[]) {
      const plans = await plansOf(() => candidatePage(db, stream, window, undefined, 1000));
      assertPlans(plans, expected[stream], { noSort: true });
      // Each instance's entry is a probe by its id, never a read of the whole index filtered per instance.
      for (const node of plans.flatMap((p) => p.nodes).filter((n) => n["Index Name"] === "usage_instance_key_idx")) {
        assert.match(String(node["Index Cond"]), /workspace_instance_id = /, `${stream}: ${JSON.stringify(node)}`);
      }
      assert.ok(!plans.some((p) => p.nodes.some((n) => n["Node Type"] === "Materialize")), `${stream}: a Materialize in the page's plan`);
    }
  });

  it("a reconcile write updates drafts by primary key", async () => {
    const page = await candidatePage(db, "drafts", { from: now, to: now, runningSince: now }, undefined, 10);
    const existing = page.candidates[0]!.existing!;
    const plans = await plansOf(() =>
      inTransaction(db, (tx) =>
        applyInstanceUsage(
          tx,
          {
            inserts: [],
            updates: [
              {
                entryId: existing.entryId,
                expected: existing,
                next: {
                  workspaceInstanceId: page.candidates[0]!.instance.id,
                  sourceKey: `instance:${page.candidates[0]!.instance.id}`,
                  attributionId: existing.attributionId,
                  creditCents: existing.creditCents + 1n,
                  effectiveTime: now,
                  draft: true,
                  metadata: { workspaceId: "w", workspaceType: "regular", workspaceClass: existing.workspaceClass ?? "", contextURL: "", creationTime: "", startTime: "", endTime: "", stoppedTime: "", userId: existing.userId ?? "", userName: "", userAvatarURL: "" },
                },
              },
            ],
          },
          now,
        ),
      ),
    );
    // The balance and daily totals upserts find their rows through their ON CONFLICT key.
    assertPlans(plans, ["usage_pkey"]);
  });
});

/**
 * A ledger the size of a small production install, loaded in bulk, never analyzed: autovacuum is
 * off for these tables, so nothing gathers statistics behind the test's back.
 */
async function load(db: Database): Promise<void> {
  for (const table of ["usage", "workspace_instances", "usage_daily_totals", "usage_user_monthly_totals", "balances", "cost_centers"]) {
    await db.execute(sql.raw(`ALTER TABLE ${table} SET (autovacuum_enabled = false)`));
  }
  const nowText = now.toISOString();
  // Instances: 10 % for team 0; 1 % running; stops over 290 days.
  await db.execute(sql.raw(`
    INSERT INTO workspace_instances (id, attribution_id, workspace_id, user_id, workspace_class, started_time, stopping_time, stopped_time, reported_at)
    SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
      'team:00000000-0000-4000-8000-' || lpad(CASE WHEN i % 10 = 0 THEN 0 ELSE i % 1000 END::text, 12, '0'),
      'ws-' || i, ('00000000-0000-4000-9000-' || lpad((i % 20)::text, 12, '0'))::uuid, 'g1-standard',
      t - interval '1 hour', CASE WHEN i % 100 = 0 THEN NULL ELSE t END, CASE WHEN i % 100 = 0 THEN NULL ELSE t END, t
    FROM generate_series(1, ${rows}) AS i, LATERAL (SELECT '${nowText}'::timestamptz - (i % 290) * interval '1 day' - (i % 1440) * interval '1 minute' AS t) x`));
  await db.execute(sql.raw(`
    INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time, workspace_instance_id, draft, metadata, created_at, updated_at)
    SELECT gen_random_uuid(), attribution_id, 'instance:' || id, 'workspaceinstance', 'bench', 600,
      coalesce(stopping_time, '${nowText}'::timestamptz), id, stopping_time IS NULL,
      jsonb_build_object('userId', user_id::text, 'workspaceClass', workspace_class), '${nowText}', '${nowText}'
    FROM workspace_instances`));
  await db.execute(sql.raw(`
    INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time, draft, metadata, created_at, updated_at)
    SELECT gen_random_uuid(), 'team:00000000-0000-4000-8000-' || lpad((i % 1000)::text, 12, '0'), 'creditnote:' || i, 'creditnote', 'note', -100,
      '${nowText}'::timestamptz - (i % 290) * interval '1 day', false, '{}', '${nowText}', '${nowText}'
    FROM generate_series(1, ${rows / 20}) AS i`));
  await db.execute(sql.raw(`
    INSERT INTO usage_daily_totals (attribution_id, day, workspace_class, entries, credit_cents)
    SELECT attribution_id, (effective_time AT TIME ZONE 'UTC')::date, coalesce(metadata ->> 'workspaceClass', ''), count(*), sum(credit_cents)
    FROM usage
    WHERE kind = 'workspaceinstance'
    GROUP BY 1, 2, 3`));
  await db.execute(sql.raw(`
    INSERT INTO usage_user_monthly_totals (attribution_id, user_id, month, entries, credit_cents)
    SELECT attribution_id, metadata ->> 'userId', date_trunc('month', effective_time AT TIME ZONE 'UTC')::date, count(*), sum(credit_cents)
    FROM usage
    WHERE kind = 'workspaceinstance' AND metadata ->> 'userId' IS NOT NULL
    GROUP BY 1, 2, 3`));
  await db.execute(sql.raw(`
    INSERT INTO balances (attribution_id, balance_cents, updated_at)
    SELECT attribution_id, sum(credit_cents), '${nowText}' FROM usage GROUP BY attribution_id`));
  await db.execute(sql.raw(`
    INSERT INTO cost_centers (attribution_id, version, spending_limit_credits, billing_strategy, billing_cycle_start, next_billing_time, created_at)
    SELECT 'team:00000000-0000-4000-8000-' || lpad((i % 1000)::text, 12, '0'), 1 + i / 1000, 500, 'other',
      '${nowText}'::timestamptz - interval '20 days', '${nowText}'::timestamptz + (i % 40 - 19) * interval '1 day', '${nowText}'
    FROM generate_series(0, 2999) AS i`));
}

type Record_ = (text: string, plan: unknown) => void;

/** PostgreSQL through a pool whose connections EXPLAIN every statement before running it. */
function explainingPostgres(databaseUrl: string, record: Record_): { db: Database; close: () => Promise<void> } {
  class ExplainingClient extends pg.Client {
    override query(...args: unknown[]): never {
      const [first, second] = args as [string | { text: string; values?: unknown[] }, unknown];
      const text = typeof first === "string" ? first : first?.text;
      const values = (typeof first === "string" ? undefined : first?.values) ?? (Array.isArray(second) ? second : undefined);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const original = (...a: unknown[]) => (super.query as any).apply(this, a);
      if (typeof text !== "string" || !plannable.test(text)) return original(...args) as never;
      const callback = typeof args[args.length - 1] === "function" ? (args.pop() as (e: unknown, r?: unknown) => void) : undefined;
      const run = (async () => {
        const result = (await original({ text: `EXPLAIN (FORMAT JSON) ${text}`, values })) as { rows: Array<Record<string, unknown>> };
        record(text, result.rows[0]!["QUERY PLAN"]);
        return original(...args);
      })();
      if (callback) {
        run.then((r) => callback(null, r), (e: unknown) => callback(e));
        return undefined as never;
      }
      return run as never;
    }
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2, Client: ExplainingClient });
  return { db: drizzlePg(pool, { schema }) as unknown as Database, close: () => pool.end() };
}

/** PGlite whose query method (and its transactions') EXPLAINs every statement before running it. */
async function explainingPglite(dataDir: string, record: Record_): Promise<{ db: Database; close: () => Promise<void> }> {
  const client = await PGlite.create(`${dataDir}/pglite`, { parsers: { 20: (value: string) => BigInt(value) }, startParams: pgliteStartParams });
  type Queryable = { query: (text: string, params?: unknown[], options?: unknown) => Promise<{ rows: Array<Record<string, unknown>> }> };
  const explaining = <T extends Queryable>(target: T): T => {
    const original = target.query.bind(target);
    target.query = async (text, params, options) => {
      if (plannable.test(text)) record(text, (await original(`EXPLAIN (FORMAT JSON) ${text}`, params)).rows[0]!["QUERY PLAN"]);
      return original(text, params, options);
    };
    return target;
  };
  explaining(client as unknown as Queryable);
  const transaction = client.transaction.bind(client);
  client.transaction = ((work: (tx: unknown) => Promise<unknown>) => transaction((tx) => work(explaining(tx as unknown as Queryable)))) as typeof client.transaction;
  return { db: drizzlePglite(client, { schema }) as unknown as Database, close: () => client.close() };
}
