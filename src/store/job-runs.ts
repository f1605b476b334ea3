// The job_runs table: one row per scheduled job with its last run, shared by all replicas.
import { eq, sql } from "drizzle-orm";
import type { Database } from "./database.js";
import { jobRuns } from "./schema.js";

export type JobRunRow = typeof jobRuns.$inferSelect;

export async function readJobRun(db: Database, job: string): Promise<JobRunRow | undefined> {
  const [row] = await db.select().from(jobRuns).where(eq(jobRuns.job, job));
  return row;
}

export async function readJobRuns(db: Database): Promise<JobRunRow[]> {
  return db.select().from(jobRuns);
}

export async function recordJobStart(db: Database, job: string, startedAt: Date, replica: string): Promise<void> {
  await db
    .insert(jobRuns)
    .values({ job, lastStartedAt: startedAt, lastReplica: replica })
    .onConflictDoUpdate({ target: jobRuns.job, set: { lastStartedAt: startedAt, lastReplica: replica } });
}

/**
 * `startedAt` is the clock time the run started: the end of the window it covered. The duration
 * recorded is that of the last successful run.
 */
export async function recordJobSuccess(db: Database, job: string, startedAt: Date, finishedAt: Date, durationMs: number): Promise<void> {
  await db
    .insert(jobRuns)
    .values({ job, lastSuccessAt: startedAt, lastFinishedAt: finishedAt, lastDurationMs: durationMs, runsSucceeded: 1n })
    .onConflictDoUpdate({
      target: jobRuns.job,
      set: {
        // Never move the success mark backwards (a slow run finishing after a newer one).
        lastSuccessAt: sql`greatest(${jobRuns.lastSuccessAt}, excluded.last_success_at)`,
        lastFinishedAt: finishedAt,
        lastDurationMs: durationMs,
        runsSucceeded: sql`${jobRuns.runsSucceeded} + 1`,
      },
    });
}

export async function recordJobFailure(db: Database, job: string, failedAt: Date, error: string): Promise<void> {
  await db
    .insert(jobRuns)
    .values({ job, lastFailureAt: failedAt, lastFinishedAt: failedAt, lastError: error, runsFailed: 1n })
    .onConflictDoUpdate({
      target: jobRuns.job,
      set: {
        lastFailureAt: failedAt,
        lastFinishedAt: failedAt,
        lastError: error,
        runsFailed: sql`${jobRuns.runsFailed} + 1`,
      },
    });
}
