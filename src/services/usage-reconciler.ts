// ReconcileUsage: pages through the instances SPEC.md Part B names, plans each page in the domain
// and applies the plans of consecutive pages together, one transaction per write. Safe to run
// concurrently and repeatedly: the ledger's unique instance key allows one entry per instance, and
// drafts change only from what was read.
import type { Clock } from "../domain/clock.js";
import type { EventRecorder } from "../events/event-recorder.js";
import type { PriceTable } from "../domain/pricing.js";
import { planReconciliation, runningInstanceLookbackMs, type ReconciliationPlan } from "../domain/reconciliation.js";
import { invalidArgument } from "../domain/tally-error.js";
import type { Database } from "../store/database.js";
import { applyInstanceUsage } from "../store/instance-usage.js";
import { inTransaction, retriedLikeATransaction } from "../store/transactions.js";
import { candidatePage, candidateStreams, type CandidateCursor } from "../store/workspace-instances.js";

/**
 * Another place instances come from besides the API (Gitpod's database, src/gitpod/gitpod-source.ts):
 * before each reconcile it stores the instances of the window in workspace_instances, as reports.
 */
export interface InstanceSource<S = unknown> {
  sync(window: { from: Date; to: Date; runningSince: Date }, now: Date, signal?: AbortSignal): Promise<S>;
}

/** Instances per page read. */
export const reconcilePageSizeMax = 1000;
/**
 * Planned entries (inserts and draft updates) gathered from consecutive pages of a stream into one
 * write: one statement, one transaction. A crash loses only uncommitted writes; the next run plans
 * them again. Gathering pages pays off because a write moves one balance row per attribution id and
 * one totals row per (attribution id, day, class) and (attribution id, user, month) it touches,
 * however many of its entries share them: pages read in stop order spread over every team, so
 * 4,000 entries move about 0.25 balance rows each instead of 0.6 at 1,000 (bench/profile-intake.ts:
 * 11 % less database CPU per instance at 100,000 instances, 13 % less wall time).
 */
export const reconcileWriteSizeMax = 4000;
/** Writes at once, each in its own transaction on its own connection. */
export const reconcileWritesInFlightMax = 4;

export interface UsageReconcilerDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly prices: PriceTable;
  readonly pageSize?: number;
  /** Planned entries per write, gathered from consecutive pages (default and most reconcileWriteSizeMax). */
  readonly writeSize?: number;
  /**
   * Writes in flight while the next page is read (default 1). Worth 2 where transactions
   * run side by side (PostgreSQL: each has its own connection); PGlite has one session.
   */
  readonly writesInFlight?: number;
  /** Spending-limit crossings of each write's attribution ids go to the outbox in its transaction. */
  readonly events?: EventRecorder;
  /** Read before each reconcile (Gitpod mode); its summary is returned as `source`. */
  readonly source?: InstanceSource;
}

export interface ReconcileSummary {
  readonly from: Date;
  readonly to: Date;
  readonly now: Date;
  /** Candidates read, counting an instance once per stream that met it. */
  readonly considered: number;
  readonly inserted: number;
  readonly updated: number;
  /** Of the entries inserted or updated, those written final. */
  readonly finalized: number;
  readonly unchanged: number;
  readonly alreadyFinal: number;
  /** Planned writes another reconcile made first (a concurrent replica). */
  readonly lostRaces: number;
  readonly pages: number;
  /** Statements that wrote to the ledger (plans of consecutive pages gathered up to writeSize entries). */
  readonly writes: number;
  /** What the instance source read (Gitpod mode), if there is one. */
  readonly source?: unknown;
}

type WritePlan = Pick<ReconciliationPlan, "inserts" | "updates">;

type Totals = { -readonly [K in keyof Omit<ReconcileSummary, "from" | "to" | "now" | "source">]: number };

export class UsageReconciler {
  private readonly pageSize: number;
  private readonly writeSize: number;
  private readonly writesInFlight: number;

  constructor(private readonly deps: UsageReconcilerDeps) {
    this.pageSize = Math.min(deps.pageSize ?? reconcilePageSizeMax, reconcilePageSizeMax);
    this.writeSize = Math.max(1, Math.min(deps.writeSize ?? reconcileWriteSizeMax, reconcileWriteSizeMax));
    this.writesInFlight = Math.max(1, Math.min(deps.writesInFlight ?? 1, reconcileWritesInFlightMax));
  }

  /**
   * Books usage of the instances that stopped in [from, to), the running ones and those with drafts.
   * An aborted `signal` ends the run after the pages in flight (what is written stays consistent).
   */
  async reconcile(from: Date, to: Date, signal?: AbortSignal): Promise<ReconcileSummary> {
    if (to < from) throw invalidArgument(`to ${to.toISOString()} must not be before from ${from.toISOString()}`);
    const now = this.deps.clock.now();
    const window = { from, to, runningSince: new Date(now.getTime() - runningInstanceLookbackMs) };
    const totals: Totals = { considered: 0, inserted: 0, updated: 0, finalized: 0, unchanged: 0, alreadyFinal: 0, lostRaces: 0, pages: 0, writes: 0 };
    // A source that fails (its database unreachable) fails the run after what Tally already holds is
    // booked: the failure is recorded, and the next run reads the window again.
    let source: unknown;
    let sourceFailure: { error: unknown } | undefined;
    if (this.deps.source) {
      try {
        source = await this.deps.source.sync(window, now, signal);
      } catch (error) {
        signal?.throwIfAborted();
        sourceFailure = { error };
      }
    }
    const writes = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    try {
      // Drafts first: they are finalised or grown before the other streams meet them again.
      for (const stream of candidateStreams) {
        let after: CandidateCursor | undefined;
        // The plans of the pages read since the last write, written once they hold writeSize entries
        // or the stream ends.
        let gathered: WritePlan = { inserts: [], updates: [] };
        do {
          signal?.throwIfAborted();
          const page = await candidatePage(this.deps.db, stream, window, after, this.pageSize);
          after = page.next;
          const plan = planReconciliation(page.candidates, this.deps.prices, now);
          totals.pages += 1;
          totals.considered += page.candidates.length;
          totals.unchanged += plan.unchanged;
          totals.alreadyFinal += plan.alreadyFinal;
          gathered.inserts.push(...plan.inserts);
          gathered.updates.push(...plan.updates);
          const planned = gathered.inserts.length + gathered.updates.length;
          if (planned === 0 || (planned < this.writeSize && after)) continue;
          const toWrite = gathered;
          gathered = { inserts: [], updates: [] };
          totals.writes += 1;
          const write = this.write(toWrite, now, totals).catch((error: unknown) => {
            failure ??= { error };
          });
          writes.add(write);
          void write.finally(() => writes.delete(write));
          while (writes.size >= this.writesInFlight) await Promise.race(writes);
          if (failure) throw failure.error;
        } while (after);
        // Each stream ends written before the next reads, so "drafts first" holds.
        await Promise.all(writes);
        if (failure) throw failure.error;
      }
    } finally {
      await Promise.all(writes);
    }
    if (failure) throw failure.error;
    if (sourceFailure) throw sourceFailure.error;
    return { from, to, now, ...totals, ...(this.deps.source ? { source } : {}) };
  }

  private async write(plan: WritePlan, now: Date, totals: Totals): Promise<void> {
    const events = this.deps.events;
    // A write is one statement; a transaction around it is needed only when limit events
    // may be recorded with it. Otherwise one round trip instead of three (BEGIN, write, COMMIT).
    const applied =
      !events || events.nothingSubscribed()
        ? await retriedLikeATransaction(() => applyInstanceUsage(this.deps.db, plan, now))
        : await inTransaction(this.deps.db, async (tx) => {
            const applied = await applyInstanceUsage(tx, plan, now);
            const moved = [...applied.deltas].filter(([, delta]) => delta !== 0n).map(([attributionId]) => attributionId);
            await events.record(tx, { limitsOf: moved, cause: "usage" }, now);
            return applied;
          });
    events?.committed();
    totals.inserted += applied.inserted;
    totals.updated += applied.updated;
    totals.finalized += applied.finalized;
    totals.lostRaces += plan.inserts.length + plan.updates.length - applied.inserted - applied.updated;
  }
}
