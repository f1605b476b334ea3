// `tally import gitpod`: an installation in Gitpod's tables (MariaDB) copied into Tally's database,
// verified, imported again (nothing added), killed in the middle and rerun; random ledgers (fast-check)
// whose balances must equal the source sums to the cent.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { openGitpodDatabase, type GitpodDatabase } from "../src/gitpod/gitpod-database.js";
import { importGitpod, importSucceeded, type ImportReport } from "../src/gitpod/gitpod-import.js";
import { openDatabase, type DatabaseHandle } from "../src/store/database.js";
import { rowsOf } from "../src/store/raw-result.js";
import { createGitpodTestDatabase, type GitpodTestDatabase, type GitpodUsageRow } from "./support/gitpod-database.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const day = 24 * 3600 * 1000;

/** Runs `tally import gitpod` in a child process; `killAt` kills it (SIGKILL) once that many usage rows were read. */
function runCli(args: string[], env: Record<string, string>, killAt?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bin/tally.mjs"), "import", "gitpod", ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (killAt === undefined) return;
      const done = [...stderr.matchAll(/usage: (\d+) of/g)].map((match) => Number(match[1]));
      if (done.length > 0 && done[done.length - 1]! >= killAt) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function tallyEnv(database: TestDatabase): Record<string, string> {
  return database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { TALLY_DATA_DIR: database.dataDir, DATABASE_URL: "" };
}

async function dailyTotalsConsistent(handle: DatabaseHandle): Promise<void> {
  const rows = rowsOf<{ attribution_id: string; ledger: string; totals: string }>(
    await handle.db.execute(sql`
      SELECT l.attribution_id, l.sum::text AS ledger, coalesce(t.sum, 0)::text AS totals
      FROM (SELECT attribution_id, sum(credit_cents) AS sum FROM usage WHERE kind = 'workspaceinstance' GROUP BY attribution_id) l
      LEFT JOIN (SELECT attribution_id, sum(credit_cents) AS sum FROM usage_daily_totals GROUP BY attribution_id) t
        ON t.attribution_id = l.attribution_id
      WHERE l.sum IS DISTINCT FROM coalesce(t.sum, 0)`),
  );
  assert.deepEqual(rows, [], "usage_daily_totals agree with the ledger");
}

describe("tally import gitpod", () => {
  // The generated installation, and a small one for the other tests (each import reads all of d_b_usage).
  let gitpod: GitpodTestDatabase;
  let small: GitpodTestDatabase;
  let tallyDb: TestDatabase;
  let pool: GitpodDatabase;
  let smallPool: GitpodDatabase;

  before(async () => {
    gitpod = await createGitpodTestDatabase();
    small = await createGitpodTestDatabase();
    tallyDb = await createTestDatabase();
    pool = openGitpodDatabase({ url: gitpod.url, connectTimeoutMs: 5000, queryTimeoutMs: 60_000 });
    smallPool = openGitpodDatabase({ url: small.url, connectTimeoutMs: 5000, queryTimeoutMs: 60_000 });
  });
  after(async () => {
    await pool?.close();
    await smallPool?.close();
    await gitpod?.drop();
    await small?.drop();
    await tallyDb?.drop();
  });

  it("imports a generated installation of 1,000 organizations and 100,000 entries: killed in the middle, rerun, verified, then a rerun adds nothing", async () => {
    const orgs = Array.from({ length: 1000 }, () => `team:${randomUUID()}`);
    const start = new Date("2025-06-01T00:00:00.000Z").getTime();
    await gitpod.insertCostCenters(
      orgs.flatMap((org, index) => [
        { id: org, creationTime: new Date(start), spendingLimit: 500, billingStrategy: "other" as const, billingCycleStart: new Date(start), nextBillingTime: new Date(start + 30 * day) },
        ...(index % 3 === 0
          ? [{ id: org, creationTime: new Date(start + day), spendingLimit: 1000 + index, billingStrategy: "stripe" as const, billingCycleStart: new Date(start + day) }]
          : []),
      ]),
    );
    await gitpod.insertStripeCustomers(
      orgs.filter((_, index) => index % 3 === 0).map((org, index) => ({ stripeCustomerId: `cus_${index}${randomUUID().slice(0, 8)}`, attributionId: org, creationTime: new Date(start + day), currency: index % 2 ? "EUR" : "USD" })),
    );
    const rows: GitpodUsageRow[] = [];
    for (let index = 0; index < 100_000; index += 1) {
      const org = orgs[index % orgs.length]!;
      const instance = index % 10 !== 9;
      rows.push({
        attributionId: org,
        kind: instance ? "workspaceinstance" : index % 20 === 9 ? "creditnote" : "invoice",
        description: instance ? "Usage collected by automated system." : "Credits",
        creditCents: instance ? 1 + ((index * 7919) % 50_000) : -((index * 104_729) % 80_000),
        effectiveTime: new Date(start + (index % 180) * day + index),
        workspaceInstanceId: instance ? randomUUID() : null,
        draft: instance && index >= 99_000,
        metadata: instance
          ? { workspaceId: `ws-${index}`, workspaceType: "regular", workspaceClass: index % 2 ? "g1-standard" : "g1-large", userId: randomUUID(), userName: "u", userAvatarURL: "" }
          : { userId: randomUUID() },
      });
    }
    await gitpod.insertUsage(rows);
    const env = tallyEnv(tallyDb);

    const killed = await runCli(["--database-url", gitpod.url], env, 30_000);
    assert.equal(killed.signal, "SIGKILL", `killed in the middle (stderr: ${killed.stderr.slice(-500)})`);
    const rerun = await runCli(["--database-url", gitpod.url], env);
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr.slice(-2000));
    assert.match(rerun.stdout, /verification passed/);
    assert.match(rerun.stdout, /1000 of 1000 balances equal SUM\(creditCents\)/);
    assert.match(rerun.stdout, /usage entries: 100000 read, \d+ imported, \d+ already present, 0 refused/);
    const [, importedFirst] = /usage entries: 100000 read, (\d+) imported/.exec(rerun.stdout)!;
    assert.ok(Number(importedFirst) < 100_000 && Number(importedFirst) > 0, "the rerun imported only what the killed run had not committed");

    const handle = await openDatabase({ databaseUrl: tallyDb.databaseUrl, dataDir: tallyDb.dataDir });
    try {
      const again = await importGitpod({ gitpod: pool, db: handle.db, now: () => new Date() });
      assert.ok(importSucceeded(again), JSON.stringify(again.verification?.balanceMismatches.slice(0, 3), (_, v) => (typeof v === "bigint" ? String(v) : v)));
      assert.deepEqual(
        { usage: again.usage.imported, costCenters: again.costCenters.imported, customers: again.stripeCustomers.imported },
        { usage: 0, costCenters: 0, customers: 0 },
        "a second run adds nothing",
      );
      assert.equal(again.usage.alreadyPresent, 100_000);
      const [counted] = rowsOf<{ entries: number; drafts: number; versions: number }>(
        await handle.db.execute(sql`SELECT (SELECT count(*) FROM usage)::int AS entries, (SELECT count(*) FROM usage WHERE draft)::int AS drafts,
          (SELECT count(*) FROM cost_centers)::int AS versions`),
      );
      assert.deepEqual(counted, { entries: 100_000, drafts: 900, versions: 1334 });
      await dailyTotalsConsistent(handle);
      // Ids are kept.
      const [sample] = rowsOf<{ id: string }>(await handle.db.execute(sql`SELECT id::text AS id FROM usage WHERE id = ${(await gitpod.rows<{ id: string }>("SELECT id FROM d_b_usage LIMIT 1"))[0]!.id}::uuid`));
      assert.ok(sample);
    } finally {
      await handle.close();
    }
  });

  it("lists refused rows with the reason, keeps duplicates of an instance, skips older customers, and a dry run writes nothing", async () => {
    const handle = await openDatabase({ databaseUrl: tallyDb.databaseUrl, dataDir: tallyDb.dataDir });
    try {
      const org = `team:${randomUUID()}`;
      const instance = randomUUID();
      const when = new Date("2026-01-10T10:00:00.000Z");
      const [first, duplicate] = await small.insertUsage([
        { id: `00000000-0000-4000-8000-${randomUUID().slice(24)}`, attributionId: org, creditCents: 300, effectiveTime: when, workspaceInstanceId: instance, metadata: { workspaceClass: "g1-standard", userId: randomUUID() } },
        { id: `ffffffff-0000-4000-8000-${randomUUID().slice(24)}`, attributionId: org, creditCents: 200, effectiveTime: when, workspaceInstanceId: instance, metadata: { workspaceClass: "g1-standard" } },
        { attributionId: org, creditCents: -50, effectiveTime: when, kind: "creditnote", description: "goodwill", metadata: { userId: randomUUID() } },
        { attributionId: org, creditCents: 7, effectiveTime: "last tuesday", metadata: {} },
        { attributionId: org, creditCents: 9, effectiveTime: when, kind: "refund", metadata: {} },
        { attributionId: "project:nope", creditCents: 11, effectiveTime: when, metadata: {} },
      ]);
      await small.execute("INSERT INTO d_b_usage (id, attributionId, creditCents, effectiveTime, kind) VALUES ('not-a-uuid', ?, 13, ?, 'invoice')", [org, when.toISOString()]);
      await small.insertStripeCustomers([
        { stripeCustomerId: "cus_old", attributionId: org, creationTime: new Date("2025-01-01T00:00:00Z"), currency: "EUR" },
        { stripeCustomerId: "cus_new", attributionId: org, creationTime: new Date("2025-06-01T00:00:00Z"), currency: "USD" },
        { stripeCustomerId: "cus_deleted", attributionId: org, creationTime: new Date("2025-09-01T00:00:00Z"), deleted: true },
      ]);
      const dry = await importGitpod({ gitpod: smallPool, db: handle.db, now: () => new Date(), dryRun: true });
      assert.equal(dry.verification, undefined);
      assert.equal(dry.usage.imported, 3);
      const [before_] = rowsOf<{ n: number }>(await handle.db.execute(sql`SELECT count(*)::int AS n FROM usage WHERE attribution_id = ${org}`));
      assert.equal(before_!.n, 0, "the dry run wrote nothing");

      const report: ImportReport = await importGitpod({ gitpod: smallPool, db: handle.db, now: () => new Date() });
      assert.equal(importSucceeded(report), false);
      const reasons = report.refused.map((row) => `${row.key}: ${row.reason}`).join("\n");
      assert.match(reasons, /effectiveTime "last tuesday" is not a time/);
      assert.match(reasons, /kind "refund" must be one of/);
      assert.match(reasons, /project:nope/);
      assert.match(reasons, /not-a-uuid/);
      assert.equal(report.refused.length, 4);
      assert.deepEqual(report.notKept.map((row) => row.key), ["cus_old"]);
      const entries = rowsOf<{ id: string; source_key: string }>(
        await handle.db.execute(sql`SELECT id::text AS id, source_key FROM usage WHERE attribution_id = ${org} ORDER BY id`),
      );
      assert.deepEqual(
        entries.filter((entry) => entry.id === first || entry.id === duplicate).map((entry) => entry.source_key),
        [`instance:${instance}`, `gitpod:${duplicate}`],
        "the instance's first entry takes its key; the duplicate keeps its own",
      );
      const mismatch = report.verification!.balanceMismatches.find((row) => row.attributionId === org)!;
      assert.equal(mismatch.gitpodCents, 300n + 200n - 50n + 7n + 9n + 13n);
      assert.equal(mismatch.tallyBalanceCents, 450n);
      assert.equal(mismatch.tallyLedgerCents, 450n);
      const [customer] = rowsOf<{ id: string; currency: string }>(
        await handle.db.execute(sql`SELECT stripe_customer_id AS id, currency FROM stripe_customers WHERE attribution_id = ${org}`),
      );
      assert.deepEqual(customer, { id: "cus_new", currency: "USD" });
      await dailyTotalsConsistent(handle);
      // The refused rows go, so the next test's verification concerns its own rows only.
      await small.execute("DELETE FROM d_b_usage WHERE attributionId IN (?, 'project:nope')", [org]);
    } finally {
      await handle.close();
    }
  });

  it("property: for random ledgers in Gitpod's tables, every balance after the import equals the source sum", async () => {
    const handle = await openDatabase({ databaseUrl: tallyDb.databaseUrl, dataDir: tallyDb.dataDir });
    try {
      const entry = fc.record({
        org: fc.integer({ min: 0, max: 4 }),
        kind: fc.constantFrom("workspaceinstance", "invoice", "creditnote"),
        creditCents: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }),
        dayOffset: fc.integer({ min: 0, max: 400 }),
        draft: fc.boolean(),
        sharedInstance: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 0, maxLength: 40 }), async (entries) => {
          const orgs = Array.from({ length: 5 }, () => `team:${randomUUID()}`);
          const shared = randomUUID();
          await small.insertUsage(
            entries.map((item) => ({
              attributionId: orgs[item.org]!,
              kind: item.kind,
              creditCents: item.creditCents,
              effectiveTime: new Date(Date.UTC(2025, 0, 1) + item.dayOffset * day + 1234),
              workspaceInstanceId: item.kind === "workspaceinstance" ? (item.sharedInstance ? shared : randomUUID()) : null,
              draft: item.kind === "workspaceinstance" && item.draft,
              metadata: item.kind === "workspaceinstance" ? { workspaceClass: "g1-standard", userId: randomUUID() } : {},
            })),
          );
          const report = await importGitpod({ gitpod: smallPool, db: handle.db, now: () => new Date(), pageSize: 500 });
          assert.deepEqual(report.refused, []);
          assert.deepEqual(report.verification!.balanceMismatches, []);
          for (const org of orgs) {
            const expected = entries.filter((item) => orgs[item.org] === org).reduce((sum, item) => sum + item.creditCents, 0n);
            const [row] = rowsOf<{ balance: string | null }>(await handle.db.execute(sql`SELECT balance_cents::text AS balance FROM balances WHERE attribution_id = ${org}`));
            assert.equal(BigInt(row?.balance ?? 0), expected, `balance of ${org}`);
          }
        }),
        { numRuns: 12 },
      );
      await dailyTotalsConsistent(handle);
    } finally {
      await handle.close();
    }
  });
});
