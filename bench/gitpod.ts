// Benchmark of Gitpod mode, in one process on one Tally database (PGlite, or PostgreSQL with
// DATABASE_URL) and a fresh MariaDB database (127.0.0.1:3306, or GITPOD_TEST_MYSQL_URL):
// - import: `importGitpod` of BENCH_ENTRIES usage entries (default 100,000; 1,000 organizations),
//   in entries per second, against reading the same pages from MySQL alone (the floor);
// - reconcile: the Gitpod source (read from MySQL, store as reports, book) against the standalone
//   reconcile of the same number of instances already stored in Tally, in the same run
//   (BENCH_INSTANCES, default 20,000: 90% stopped in the window, 10% running).
//
//   npm run bench:gitpod
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:gitpod
import { randomUUID } from "node:crypto";
import { ManualClock } from "../src/domain/clock.js";
import { buildPriceTable } from "../src/domain/pricing.js";
import type { InstanceReport } from "../src/domain/workspace-instance.js";
import { openGitpodDatabase } from "../src/gitpod/gitpod-database.js";
import { importGitpod, importSucceeded } from "../src/gitpod/gitpod-import.js";
import { GitpodInstanceSource } from "../src/gitpod/gitpod-source.js";
import { UsageReconciler } from "../src/services/usage-reconciler.js";
import { openDatabase } from "../src/store/database.js";
import { upsertInstances } from "../src/store/workspace-instances.js";
import { createGitpodTestDatabase, type GitpodInstanceRow, type GitpodUsageRow } from "../test/support/gitpod-database.js";
import { benchDatabase } from "./support.js";

const entryCount = Number(process.env.BENCH_ENTRIES ?? 100_000);
const instanceCount = Number(process.env.BENCH_INSTANCES ?? 20_000);
const orgCount = 1000;
const minute = 60_000;

async function main() {
  const gitpod = await createGitpodTestDatabase();
  const tallyDb = await benchDatabase();
  const handle = await openDatabase({ databaseUrl: tallyDb.databaseUrl, dataDir: tallyDb.dataDir });
  const pool = openGitpodDatabase({ url: gitpod.url, connectTimeoutMs: 5000, queryTimeoutMs: 120_000 });
  try {
    console.log(`Tally on ${handle.kind}, Gitpod's database on ${gitpod.url.replace(/\/[^/]*$/, "")}`);
    const orgs = Array.from({ length: orgCount }, () => `team:${randomUUID()}`);

    // --- import ---
    const start = Date.UTC(2025, 5, 1);
    const rows: GitpodUsageRow[] = [];
    for (let index = 0; index < entryCount; index += 1) {
      const instance = index % 10 !== 9;
      rows.push({
        attributionId: orgs[index % orgCount]!,
        kind: instance ? "workspaceinstance" : "creditnote",
        description: instance ? "Usage collected by automated system." : "Credits",
        creditCents: instance ? 1 + (index % 5000) : -(index % 9000),
        effectiveTime: new Date(start + index * 60_000),
        workspaceInstanceId: instance ? randomUUID() : null,
        draft: false,
        metadata: instance ? { workspaceId: `ws-${index}`, workspaceType: "regular", workspaceClass: "g1-standard", userId: randomUUID() } : { userId: randomUUID() },
      });
    }
    await gitpod.insertUsage(rows);
    await gitpod.insertCostCenters(orgs.map((org) => ({ id: org, creationTime: new Date(start), spendingLimit: 500, billingStrategy: "other", billingCycleStart: new Date(start), nextBillingTime: new Date(start + 30 * 24 * 3_600_000) })));

    let readStarted = performance.now();
    let after = "";
    for (;;) {
      const page = await pool.query<{ id: string }>(
        "SELECT id, attributionId, description, creditCents, effectiveTime, kind, workspaceInstanceId, draft, metadata FROM d_b_usage WHERE id > ? ORDER BY id LIMIT 2000",
        [after],
      );
      if (page.length === 0) break;
      after = page[page.length - 1]!.id;
    }
    const readSeconds = (performance.now() - readStarted) / 1000;
    const importStarted = performance.now();
    // Where the time goes: each phase ends at its last progress report.
    const phaseEnds = new Map<string, number>();
    const report = await importGitpod({ gitpod: pool, db: handle.db, now: () => new Date(), onProgress: (step) => phaseEnds.set(step.phase, performance.now()) });
    const importSeconds = (performance.now() - importStarted) / 1000;
    if (!importSucceeded(report)) throw new Error(`the import did not verify: ${JSON.stringify(report.refused.slice(0, 3))}`);
    const rerunStarted = performance.now();
    const rerun = await importGitpod({ gitpod: pool, db: handle.db, now: () => new Date() });
    const rerunSeconds = (performance.now() - rerunStarted) / 1000;
    if (rerun.usage.imported !== 0) throw new Error("the second import added entries");
    const importRate = entryCount / importSeconds;
    const readRate = entryCount / readSeconds;
    console.log(`import: ${entryCount} entries, ${orgCount} organizations, verified`);
    console.log(`  MySQL read alone (the floor)   ${readRate.toFixed(0).padStart(8)} entries/s`);
    console.log(`  tally import gitpod            ${importRate.toFixed(0).padStart(8)} entries/s   (${(readRate / importRate).toFixed(1)}x slower than reading alone; incl. verification)`);
    let phaseStart = importStarted;
    const phases = [...phaseEnds.entries()].map(([phase, end]) => {
      const text = `${phase} ${((end - phaseStart) / 1000).toFixed(1)} s`;
      phaseStart = end;
      return text;
    });
    console.log(`  phases: ${phases.join(", ")}`);
    console.log(`  second run (adds nothing)      ${(entryCount / rerunSeconds).toFixed(0).padStart(8)} entries/s`);

    // --- reconcile ---
    const clock = new ManualClock(new Date());
    const now = clock.now();
    const prices = buildPriceTable({ "g1-standard": 0.6 });
    const spec = (index: number): GitpodInstanceRow => {
      const running = index % 10 === 0;
      const stop = new Date(now.getTime() - 30 * minute + (index % 1000) * 1000);
      return {
        id: randomUUID(),
        usageAttributionId: orgs[index % orgCount]!,
        workspaceClass: "g1-standard",
        creationTime: new Date(stop.getTime() - 61 * minute),
        startedTime: new Date(stop.getTime() - 60 * minute),
        stoppingTime: running ? undefined : stop,
        stoppedTime: running ? undefined : new Date(stop.getTime() + 5000),
        phasePersisted: running ? "running" : "stopped",
        ownerId: randomUUID(),
        contextURL: "https://github.com/gitpod-io/gitpod",
      };
    };
    // Standalone: the same shape of instances, stored in Tally as the API stores them.
    const standalone: InstanceReport[] = Array.from({ length: instanceCount }, (_, index) => {
      const row = spec(index);
      return {
        id: row.id!,
        workspaceId: `ws-${index}`,
        attributionId: row.usageAttributionId,
        userId: row.ownerId,
        workspaceClass: "g1-standard",
        workspaceType: "regular",
        creationTime: row.creationTime as Date,
        startedTime: row.startedTime as Date,
        stoppingTime: row.stoppingTime as Date | undefined,
        stoppedTime: row.stoppedTime as Date | undefined,
        projectId: undefined,
        contextUrl: row.contextURL,
        userName: "bench",
        userAvatarUrl: undefined,
      };
    });
    for (let startIndex = 0; startIndex < standalone.length; startIndex += 1000) {
      await upsertInstances(handle.db, standalone.slice(startIndex, startIndex + 1000).sort((a, b) => (a.id < b.id ? -1 : 1)), now);
    }
    const writesInFlight = Math.min(2, handle.concurrentTransactionsMax);
    const from = new Date(now.getTime() - 3 * 3_600_000);
    const plain = new UsageReconciler({ db: handle.db, clock, prices, writesInFlight });
    const standaloneStarted = performance.now();
    const plainSummary = await plain.reconcile(from, now);
    const standaloneSeconds = (performance.now() - standaloneStarted) / 1000;

    const gitpodRows = Array.from({ length: instanceCount }, (_, index) => spec(index));
    await gitpod.insertInstances(gitpodRows);
    await gitpod.insertUsers(gitpodRows.map((row) => ({ id: row.ownerId!, name: "bench" })));
    const sourced = new UsageReconciler({ db: handle.db, clock, prices, writesInFlight, source: new GitpodInstanceSource({ gitpod: pool, db: handle.db }) });
    const sourcedStarted = performance.now();
    const sourcedSummary = await sourced.reconcile(from, now);
    const sourcedSeconds = (performance.now() - sourcedStarted) / 1000;
    if (sourcedSummary.inserted !== instanceCount || plainSummary.inserted !== instanceCount) {
      throw new Error(`booked ${plainSummary.inserted} standalone and ${sourcedSummary.inserted} from Gitpod, expected ${instanceCount} each`);
    }
    const standaloneRate = instanceCount / standaloneSeconds;
    const sourcedRate = instanceCount / sourcedSeconds;
    console.log(`reconcile: ${instanceCount} instances (90% stopped in the window, 10% running), ${orgCount} organizations`);
    console.log(`  standalone (stored in Tally)   ${standaloneRate.toFixed(0).padStart(8)} instances/s`);
    console.log(`  Gitpod source (read + book)    ${sourcedRate.toFixed(0).padStart(8)} instances/s   (${(standaloneRate / sourcedRate).toFixed(2)}x the standalone time)`);
  } finally {
    await pool.close();
    await handle.close();
    await tallyDb.drop();
    await gitpod.drop();
  }
}

await main();
