// The idempotency-key job: deletes keys older than their retention (at least 24 h), in batches.
import type { Database } from "../store/database.js";
import { pruneKeys } from "../store/idempotency-keys.js";
import type { ScheduledJob } from "./job-scheduler.js";

/** Pruning is cheap and nothing depends on its timing: hourly keeps the table about a day's keys. */
export const idempotencyKeyJobIntervalMs = 3_600_000;

export function idempotencyKeyJob(db: Database, retentionMs: number, intervalMs = idempotencyKeyJobIntervalMs): ScheduledJob {
  return {
    name: "idempotency-keys",
    intervalMs,
    async run({ now }) {
      const pruned = await pruneKeys(db, new Date(now.getTime() - retentionMs));
      return { pruned };
    },
  };
}
