// Gitpod mode (TALLY_GITPOD_DATABASE_URL set): the pool on Gitpod's database, the instance source
// the reconciler reads before each run, and what /readyz and /metrics show about them.
import { withDeadline } from "../deadline.js";
import type { JobScheduler } from "../jobs/job-scheduler.js";
import type { Logger } from "../logger.js";
import type { Database } from "../store/database.js";
import { openGitpodDatabase, type GitpodDatabase } from "./gitpod-database.js";
import { GitpodInstanceSource } from "./gitpod-source.js";

/** /readyz and /metrics ping Gitpod's database at most this often. */
const gitpodPingIntervalMs = 5000;
/** A ping unanswered for this long counts as unreachable. */
const gitpodPingTimeoutMs = 2000;

export interface GitpodMode {
  readonly database: GitpodDatabase;
  readonly source: GitpodInstanceSource;
  /** Whether Gitpod's database answered its last ping (pinged at most every few seconds). */
  reachable(): Promise<{ reachable: boolean; error?: string }>;
  close(): Promise<void>;
}

export interface GitpodModeOptions {
  readonly url: string;
  readonly db: Database;
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
}

export function openGitpodMode(options: GitpodModeOptions): GitpodMode {
  const database = openGitpodDatabase({
    url: options.url,
    connectTimeoutMs: options.connectTimeoutMs,
    queryTimeoutMs: options.queryTimeoutMs,
    logger: options.logger,
  });
  const source = new GitpodInstanceSource({ gitpod: database, db: options.db, logger: options.logger });
  let last: { atMs: number; reachable: boolean; error?: string } | undefined;
  let inFlight: Promise<{ reachable: boolean; error?: string }> | undefined;
  return {
    database,
    source,
    async reachable() {
      if (last && performance.now() - last.atMs < gitpodPingIntervalMs) return last;
      inFlight ??= withDeadline(database.ping(), gitpodPingTimeoutMs, () => new Error(`no answer within ${gitpodPingTimeoutMs} ms`))
        .then(
          () => ({ reachable: true }),
          (error: unknown) => ({ reachable: false, error: error instanceof Error ? error.message : String(error) }),
        )
        .then((outcome) => {
          last = { atMs: performance.now(), ...outcome };
          inFlight = undefined;
          return outcome;
        });
      return inFlight;
    },
    close: () => database.close(),
  };
}

/**
 * /readyz's `gitpod` detail: the database, and the ledger job's last failure when it failed after its
 * last success (e.g. Gitpod's database was unreachable during the run). Readiness itself is Tally's
 * own: Tally answers RPCs while Gitpod's database is away, and the ledger catches up once it is back.
 */
export async function gitpodReadiness(mode: GitpodMode, jobs: JobScheduler): Promise<Record<string, unknown>> {
  const [database, statuses] = await Promise.all([mode.reachable(), jobs.status().catch(() => [])]);
  const ledger = statuses.find((status) => status.name === "ledger");
  const failing = ledger?.lastFailureAt !== undefined && (ledger.lastSuccessAt === undefined || ledger.lastFailureAt > ledger.lastSuccessAt);
  return {
    gitpod: {
      database: mode.database.description,
      reachable: database.reachable,
      ...(database.error ? { error: database.error } : {}),
      ledger: {
        lastSuccessAt: ledger?.lastSuccessAt?.toISOString() ?? null,
        ...(failing ? { lastFailureAt: ledger!.lastFailureAt!.toISOString(), lastError: ledger!.lastError ?? "" } : {}),
      },
    },
  };
}
