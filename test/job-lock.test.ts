// Scheduled jobs run on one replica at a time (a PostgreSQL advisory lock per job), and another
// replica takes over when the holder's connection dies.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { ManualClock } from "../src/domain/clock.js";
import { JobScheduler, type ScheduledJob } from "../src/jobs/job-scheduler.js";
import { silentLogger } from "../src/logger.js";
import { openDatabase, type DatabaseHandle } from "../src/store/database.js";
import { createTestDatabase, testStoreKind, type TestDatabase } from "./support/test-database.js";

const skip =
  testStoreKind === "pglite"
    ? "needs PostgreSQL (set DATABASE_URL): on PGlite one process owns the data directory, so advisory locks never contend"
    : false;

describe("job leadership across replicas", { skip }, () => {
  let database: TestDatabase;
  let replicaA: DatabaseHandle;
  let replicaB: DatabaseHandle;
  const clock = new ManualClock(new Date("2026-01-15T12:00:00Z"));
  before(async () => {
    database = await createTestDatabase();
    replicaA = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    replicaB = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
  });
  after(async () => {
    await replicaA?.close().catch(() => {});
    await replicaB?.close();
    await database?.drop();
  });

  /** A job that runs until released, counting its runs per replica. */
  function blockingJob(runs: string[], replica: string) {
    let release = () => {};
    let started = () => {};
    const startedPromise = new Promise<void>((resolve) => (started = resolve));
    const job: ScheduledJob = {
      name: "ledger",
      intervalMs: 60_000,
      run: async () => {
        runs.push(replica);
        started();
        await new Promise<void>((resolve) => (release = resolve));
        return {};
      },
    };
    return { job, started: startedPromise, release: () => release() };
  }

  it("runs a job on one replica at a time, and lets the other take over when the holder's connection dies", async () => {
    const runs: string[] = [];
    const a = blockingJob(runs, "a");
    const b = blockingJob(runs, "b");
    const schedulerA = new JobScheduler({ database: replicaA, clock, logger: silentLogger, replica: "a", jobs: [a.job] });
    const schedulerB = new JobScheduler({ database: replicaB, clock, logger: silentLogger, replica: "b", jobs: [b.job] });

    const runA = schedulerA.runOnce("ledger");
    await a.started;
    assert.deepEqual(await schedulerB.runOnce("ledger"), { ran: false, reason: "held by another replica" });
    assert.deepEqual(await schedulerA.runOnce("ledger"), { ran: false, reason: "already running here" });
    a.release();
    assert.equal((await runA).ran, true);

    // Now B can run it; while it does, A cannot.
    const runB = schedulerB.runOnce("ledger");
    await b.started;
    assert.deepEqual(await schedulerA.runOnce("ledger"), { ran: false, reason: "held by another replica" });
    b.release();
    await runB;
    assert.deepEqual(runs, ["a", "b"]);

    // A takes the lock again and "dies": PostgreSQL ends its session, which releases the lock.
    const again = blockingJob(runs, "a");
    const dyingA = new JobScheduler({ database: replicaA, clock, logger: silentLogger, replica: "a", jobs: [again.job] });
    const dyingRun = dyingA.runOnce("ledger");
    await again.started;
    const admin = new pg.Client({ connectionString: database.databaseUrl });
    await admin.connect();
    try {
      const { rowCount } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_locks
        WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      assert.equal(rowCount, 1, "exactly one session (A's) holds an advisory lock");
    } finally {
      await admin.end();
    }
    const takeover = blockingJob(runs, "b");
    const newB = new JobScheduler({ database: replicaB, clock, logger: silentLogger, replica: "b", jobs: [takeover.job] });
    const deadline = Date.now() + 10_000;
    let takeoverRun: Promise<unknown> | undefined;
    for (;;) {
      const attempt = newB.runOnce("ledger");
      const first = await Promise.race([attempt, takeover.started.then(() => "started" as const)]);
      if (first === "started") {
        takeoverRun = attempt;
        break;
      }
      assert.ok(Date.now() < deadline, "B never took over the job");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(runs, ["a", "b", "a", "b"]);
    takeover.release();
    assert.equal(((await takeoverRun) as { ran: boolean }).ran, true);
    // The dying run may finish its work; its lost connection is discarded, not reused.
    again.release();
    await dyingRun;
  });
});
