// Runs named jobs on intervals. Each run holds a PostgreSQL advisory lock named after its job, so at
// most one replica runs a job at a time; when the holder dies its connection closes, the lock is
// released and the next tick on another replica runs the job. Every run is logged and recorded in
// job_runs (last success, duration, failures), which status() reads for metrics and operators.
//
// The lock is for efficiency, not correctness: every job is safe to run twice at once.
import { createHash } from "node:crypto";
import type { Clock } from "../domain/clock.js";
import type { Logger } from "../logger.js";
import type { DatabaseHandle } from "../store/database.js";
import { readJobRun, readJobRuns, recordJobFailure, recordJobStart, recordJobSuccess } from "../store/job-runs.js";

export interface JobContext {
  /** The clock at the start of the run; recorded as the last success when the run succeeds. */
  readonly now: Date;
  /** Start of the last successful run on any replica, if any. */
  readonly lastSuccessAt: Date | undefined;
  /** Aborted when the scheduler stops (shutdown): long work should end at its next safe point. */
  readonly signal: AbortSignal;
}

export interface ScheduledJob {
  readonly name: string;
  readonly intervalMs: number;
  /** Does the work; the returned summary is logged. Throwing records a failure. */
  run(context: JobContext): Promise<Record<string, unknown>>;
}

export type JobOutcome =
  | { readonly ran: true; readonly ok: true; readonly durationMs: number; readonly summary: Record<string, unknown> }
  | { readonly ran: true; readonly ok: false; readonly durationMs: number; readonly error: unknown }
  | { readonly ran: false; readonly reason: "held by another replica" | "already running here" | "ran recently on another replica" };

export interface JobStatus {
  readonly name: string;
  readonly intervalMs: number;
  /** Running on this replica now. */
  readonly running: boolean;
  /** Clock time the last run (on any replica) started, and when the last run ended. */
  readonly lastStartedAt: Date | undefined;
  readonly lastFinishedAt: Date | undefined;
  /** Start of the last successful run: for the ledger job, the end of the window it covered. */
  readonly lastSuccessAt: Date | undefined;
  /** Duration of the last successful run. */
  readonly lastDurationMs: number | undefined;
  readonly lastFailureAt: Date | undefined;
  readonly lastError: string | undefined;
  readonly runsSucceeded: bigint;
  readonly runsFailed: bigint;
  /** The replica that started the last run. */
  readonly lastReplica: string | undefined;
}

export interface JobSchedulerDeps {
  readonly database: DatabaseHandle;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Names this process in job_runs and logs, e.g. host:pid. */
  readonly replica: string;
  readonly jobs: readonly ScheduledJob[];
  /** Told of every run this replica made (not of ticks skipped for another replica's lock), e.g. for metrics. */
  readonly onRunFinished?: (job: string, run: { ok: boolean; durationMs: number; finishedAt: Date }) => void;
}

/** The first tick after start comes this soon (or after one interval, if shorter). */
export const firstRunDelayMs = 2000;
/** A timer tick skips the job when another replica started it less than this much of an interval ago (tolerates clock skew and timer jitter). */
export const dueFraction = 0.9;
/** Error messages stored in job_runs are cut to this length. */
const errorLengthMax = 2000;

/** The advisory lock key of a job: 64 bits of SHA-256 of its name, in a Tally-specific namespace. */
export function jobLockKey(name: string): bigint {
  return createHash("sha256").update(`tally.job.${name}`).digest().readBigInt64BE(0);
}

export class JobScheduler {
  private readonly jobs: ReadonlyMap<string, ScheduledJob>;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<JobOutcome>>();
  private abort = new AbortController();
  private started = false;

  constructor(private readonly deps: JobSchedulerDeps) {
    const jobs = new Map<string, ScheduledJob>();
    for (const job of deps.jobs) {
      if (jobs.has(job.name)) throw new Error(`two scheduled jobs are named ${job.name}`);
      jobs.set(job.name, job);
    }
    this.jobs = jobs;
  }

  get jobNames(): string[] {
    return [...this.jobs.keys()];
  }

  /** Starts the timers: each job runs soon after start, then every interval after its last run ended. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    for (const job of this.jobs.values()) this.schedule(job, Math.min(firstRunDelayMs, job.intervalMs));
    this.deps.logger.info({ jobs: this.jobNames }, "scheduled jobs started");
  }

  /**
   * Stops the timers, asks runs in progress on this replica to end at their next safe point (a
   * ledger run ends after its current page; the next run redoes the window) and waits for them.
   */
  async stop(): Promise<void> {
    this.started = false;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort(new Error("the scheduler is stopping"));
    await Promise.allSettled([...this.running.values()]);
  }

  /** Runs a job now (if no replica is running it). */
  async runOnce(name: string): Promise<JobOutcome> {
    return this.run(name, false);
  }

  /**
   * What the timers do: runs the job unless another replica started a run of it less than
   * `dueFraction` of an interval ago. Every replica ticks, but the job runs about once per interval
   * across all of them; when the replica running it dies, the next tick elsewhere finds it due.
   */
  async runIfDue(name: string): Promise<JobOutcome> {
    return this.run(name, true);
  }

  private async run(name: string, onlyIfDue: boolean): Promise<JobOutcome> {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`no scheduled job is named ${name}; known: ${this.jobNames.join(", ")}`);
    if (this.running.has(name)) return { ran: false, reason: "already running here" };
    const run = this.runLocked(job, onlyIfDue).finally(() => this.running.delete(name));
    this.running.set(name, run);
    return run;
  }

  /** Each job's last run as recorded in job_runs by any replica, plus whether it runs here now. */
  async status(): Promise<JobStatus[]> {
    const rows = new Map((await readJobRuns(this.deps.database.db)).map((row) => [row.job, row]));
    return [...this.jobs.values()].map((job) => {
      const row = rows.get(job.name);
      return {
        name: job.name,
        intervalMs: job.intervalMs,
        running: this.running.has(job.name),
        lastStartedAt: row?.lastStartedAt ?? undefined,
        lastFinishedAt: row?.lastFinishedAt ?? undefined,
        lastSuccessAt: row?.lastSuccessAt ?? undefined,
        lastDurationMs: row?.lastDurationMs ?? undefined,
        lastFailureAt: row?.lastFailureAt ?? undefined,
        lastError: row?.lastError ?? undefined,
        runsSucceeded: row?.runsSucceeded ?? 0n,
        runsFailed: row?.runsFailed ?? 0n,
        lastReplica: row?.lastReplica ?? undefined,
      };
    });
  }

  private schedule(job: ScheduledJob, delayMs: number): void {
    const timer = setTimeout(() => {
      void this.runIfDue(job.name)
        .catch((error: unknown) => this.deps.logger.error({ err: error, job: job.name }, "job could not run"))
        .finally(() => {
          if (this.started) this.schedule(job, job.intervalMs);
        });
    }, delayMs);
    // Timers alone never keep the process alive; the server does.
    timer.unref();
    this.timers.set(job.name, timer);
  }

  private async runLocked(job: ScheduledJob, onlyIfDue: boolean): Promise<JobOutcome> {
    const { database, clock, logger, replica } = this.deps;
    const db = database.db;
    const locked = await database.tryWithAdvisoryLock(jobLockKey(job.name), async (): Promise<JobOutcome> => {
      const last = await readJobRun(db, job.name);
      const lastSuccessAt = last?.lastSuccessAt ?? undefined;
      const now = clock.now();
      if (onlyIfDue && last?.lastStartedAt && last.lastReplica !== replica && now.getTime() - last.lastStartedAt.getTime() < job.intervalMs * dueFraction) {
        return { ran: false, reason: "ran recently on another replica" };
      }
      await recordJobStart(db, job.name, now, replica);
      const startedMs = performance.now();
      try {
        const summary = await job.run({ now, lastSuccessAt, signal: this.abort.signal });
        const durationMs = Math.round(performance.now() - startedMs);
        await recordJobSuccess(db, job.name, now, clock.now(), durationMs);
        logger.info({ job: job.name, durationMs, ...summary }, "job %s succeeded", job.name);
        this.deps.onRunFinished?.(job.name, { ok: true, durationMs, finishedAt: clock.now() });
        return { ran: true, ok: true, durationMs, summary };
      } catch (error) {
        const durationMs = Math.round(performance.now() - startedMs);
        const message = error instanceof Error ? error.message : String(error);
        await recordJobFailure(db, job.name, clock.now(), message.slice(0, errorLengthMax)).catch((recordError: unknown) =>
          logger.error({ err: recordError, job: job.name }, "could not record a job failure"),
        );
        logger.error({ err: error, job: job.name, durationMs }, "job %s failed", job.name);
        this.deps.onRunFinished?.(job.name, { ok: false, durationMs, finishedAt: clock.now() });
        return { ran: true, ok: false, durationMs, error };
      }
    });
    if (!locked.acquired) {
      logger.debug({ job: job.name }, "job %s is running on another replica", job.name);
      return { ran: false, reason: "held by another replica" };
    }
    return locked.value;
  }
}
