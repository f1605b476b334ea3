// Upgrading an installation that already holds a ledger: the migrations of earlier releases run
// first (drizzle's migrator, as Tally runs them), with the ledger written before the totals existed. After
// 0012, one user's totals are per UTC month in usage_user_monthly_totals, the daily totals hold all
// users only, and both agree with the ledger; a fresh Tally then opens the database and reads it.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { openDatabase } from "../src/store/database.js";
import { listUsage } from "../src/store/ledger.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";

const migrationsFolder = path.join(import.meta.dirname, "..", "src", "store", "migrations");
const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, "meta", "_journal.json"), "utf8")) as { entries: Array<{ tag: string }> };
const folders: string[] = [];

interface RawClient {
  exec(text: string): Promise<void>;
  rows<T>(text: string): Promise<T[]>;
  /** Applies the migrations of `folder` not yet applied, as Tally's migrator does (drizzle's journal). */
  migrate(folder: string): Promise<void>;
  close(): Promise<void>;
}

async function rawClient(database: TestDatabase): Promise<RawClient> {
  if (database.databaseUrl) {
    const client = new pg.Client({ connectionString: database.databaseUrl });
    await client.connect();
    return {
      exec: async (text) => void (await client.query(text)),
      rows: async <T>(text: string) => (await client.query(text)).rows as T[],
      migrate: (folder) => migratePg(drizzlePg(client), { migrationsFolder: folder }),
      close: () => client.end(),
    };
  }
  const client = await PGlite.create(path.join(database.dataDir, "pglite"));
  return {
    exec: async (text) => void (await client.exec(text)),
    rows: async <T>(text: string) => (await client.query<T>(text)).rows,
    migrate: (folder) => migratePglite(drizzlePglite(client), { migrationsFolder: folder }),
    close: () => client.close(),
  };
}

/** A copy of the migrations folder whose journal ends before `tag`: the release before it. */
function migrationsBefore(tag: string): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "tally-migrations-"));
  fs.cpSync(migrationsFolder, folder, { recursive: true });
  const end = journal.entries.findIndex((entry) => entry.tag === tag);
  assert.ok(end > 0, `the journal names ${tag}`);
  fs.writeFileSync(path.join(folder, "meta", "_journal.json"), JSON.stringify({ ...journal, entries: journal.entries.slice(0, end) }));
  return folder;
}

const team = "team:00000000-0000-4000-8000-000000000001";
const users = ["00000000-0000-4000-9000-000000000001", "00000000-0000-4000-9000-000000000002"];

describe("upgrading a ledger to per-month user totals (migration 0012)", () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await database?.drop();
    for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
  });

  it("moves one user's daily totals into monthly rows that agree with the ledger, and a new Tally reads them", async () => {
    const beforeTotals = migrationsBefore("0007_usage_daily_totals");
    const beforeMonthly = migrationsBefore("0012_user_monthly_totals");
    folders.push(beforeTotals, beforeMonthly);
    const client = await rawClient(database);
    try {
      await client.migrate(beforeTotals);
      // 300 entries over four months around a year's end: two users, entries without a user, classes,
      // drafts, and a credit note (not workspace usage, so in no totals).
      await client.exec(`
        INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time,
          workspace_instance_id, draft, metadata, created_at, updated_at)
        SELECT gen_random_uuid(), '${team}', 'instance:' || i, 'workspaceinstance', 'usage', 100 + i,
          timestamptz '2025-11-20T00:00:00Z' + i * interval '7 hours', gen_random_uuid(), i % 50 = 0,
          CASE WHEN i % 3 = 2 THEN jsonb_build_object('workspaceClass', 'g1-large')
            ELSE jsonb_build_object('userId', (ARRAY['${users[0]}', '${users[1]}'])[1 + i % 3], 'workspaceClass', CASE WHEN i % 2 = 0 THEN 'g1-standard' ELSE 'g1-large' END) END,
          now(), now()
        FROM generate_series(1, 300) AS i;
        INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time, draft, metadata, created_at, updated_at)
        VALUES (gen_random_uuid(), '${team}', 'creditnote:1', 'creditnote', 'note', -500, '2025-12-24T00:00:00Z', false, '{"userId": "${users[0]}"}', now(), now());`);
      await client.migrate(beforeMonthly);
      const before = await client.rows<{ user_rows: string }>(`SELECT count(*)::text AS user_rows FROM usage_daily_totals WHERE user_scope <> ''`);
      assert.ok(Number(before[0]!.user_rows) > 50, "the backfill (0008) wrote per-day rows for each user");
      await client.migrate(migrationsFolder);

      const monthly = await client.rows<{ user_id: string; month: string; entries: string; credit_cents: string }>(`
        SELECT user_id, to_char(month, 'YYYY-MM-DD') AS month, entries::text, credit_cents::text
        FROM usage_user_monthly_totals ORDER BY user_id, month`);
      const truth = await client.rows<{ user_id: string; month: string; entries: string; credit_cents: string }>(`
        SELECT metadata ->> 'userId' AS user_id, to_char(date_trunc('month', effective_time AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS month,
          count(*)::text AS entries, sum(credit_cents)::text AS credit_cents
        FROM usage WHERE kind = 'workspaceinstance' AND metadata ->> 'userId' IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2`);
      assert.deepEqual(monthly, truth);
      assert.deepEqual(
        monthly.map((row) => row.month).filter((month, i, all) => all.indexOf(month) === i),
        ["2025-11-01", "2025-12-01", "2026-01-01", "2026-02-01"],
      );
      const daily = await client.rows<{ mismatches: string }>(`
        SELECT count(*)::text AS mismatches FROM (
          (SELECT attribution_id, (effective_time AT TIME ZONE 'UTC')::date AS day, coalesce(metadata ->> 'workspaceClass', '') AS workspace_class,
            count(*) AS entries, sum(credit_cents) AS credit_cents
          FROM usage WHERE kind = 'workspaceinstance' GROUP BY 1, 2, 3
          EXCEPT SELECT attribution_id, day, workspace_class, entries, credit_cents FROM usage_daily_totals)
          UNION ALL
          (SELECT attribution_id, day, workspace_class, entries, credit_cents FROM usage_daily_totals
          EXCEPT SELECT attribution_id, (effective_time AT TIME ZONE 'UTC')::date, coalesce(metadata ->> 'workspaceClass', ''), count(*), sum(credit_cents)
          FROM usage WHERE kind = 'workspaceinstance' GROUP BY 1, 2, 3)) AS x`);
      assert.equal(daily[0]!.mismatches, "0", "the daily totals are the ledger's, for all users");
      const columns = await client.rows<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'usage_daily_totals' ORDER BY ordinal_position`,
      );
      assert.deepEqual(columns.map((c) => c.column_name), ["attribution_id", "day", "workspace_class", "entries", "credit_cents"]);
    } finally {
      await client.close();
    }

    // Tally opens the upgraded database (nothing left to apply) and lists one user's usage across
    // the months from the moved totals.
    const handle = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    try {
      const page = await listUsage(handle.db, {
        attributionId: team,
        userId: users[1]!,
        from: new Date("2025-11-25T00:00:00Z"),
        to: new Date("2026-01-20T00:00:00Z"),
        order: "descending",
        perPage: 5,
        page: 3,
      });
      const inRange = (i: number) => {
        const at = Date.parse("2025-11-20T00:00:00Z") + i * 7 * 3600_000;
        return at >= Date.parse("2025-11-25T00:00:00Z") && at < Date.parse("2026-01-20T00:00:00Z");
      };
      const mine = Array.from({ length: 300 }, (_, k) => k + 1).filter((i) => i % 3 === 1 && inRange(i));
      assert.equal(page.total, mine.length);
      assert.equal(page.creditCentsSum, mine.reduce((sum, i) => sum + BigInt(100 + i), 0n));
      // Descending, page 3 of 5: the 11th to 15th newest.
      assert.deepEqual(
        page.entries.map((entry) => Number(entry.creditCents) - 100),
        [...mine].reverse().slice(10, 15),
      );
    } finally {
      await handle.close();
    }
  });
});
