// ReconcileUsage: pages through the instances SPEC.md Part B names, plans each page in the domain
// and applies it in one transaction per page. Safe to run concurrently and repeatedly: the ledger's
// unique source key allows one entry per instance, and drafts change only from what was read.
import type { Clock } from "../domain/clock.js";
import type { PriceTable } from "../domain/pricing.js";
import { planReconciliation, runningInstanceLookbackMs } from "../domain/reconciliation.js";
import { invalidArgument } from "../domain/tally-error.js";
import type { Database } from "../store/database.js";
import { applyInstanceUsage } from "../store/instance-usage.js";
import { inTransaction } from "../store/transactions.js";
import { candidatePage, candidateStreams, type CandidateCursor, type CandidateStream } from "../store/workspace-instances.js";

/** Instances per page: one read, one transaction. A crash loses at most one uncommitted page. */
export const reconcilePageSizeMax = 1000;

export interface UsageReconcilerDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly prices: PriceTable;
  readonly pageSize?: number;
}

export interface ReconcileSummary {
  readonly from: Date;
  readonly to: Date;
  readonly now: Date;
  /** Candidates read, counting an instance once per stream that met it. */
  readonly considered: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly alreadyFinal: number;
  /** Planned writes another reconcile made first (a concurrent replica). */
  readonly lostRaces: number;
  readonly pages: number;
}

export class UsageReconciler {
  private readonly pageSize: number;

  constructor(private readonly deps: UsageReconcilerDeps) {
    this.pageSize = Math.min(deps.pageSize ?? reconcilePageSizeMax, reconcilePageSizeMax);
  }

  /** Books usage of the instances that stopped in [from, to), the running ones and those with drafts. */
  async reconcile(from: Date, to: Date): Promise<ReconcileSummary> {
    if (to < from) throw invalidArgument(`to ${to.toISOString()} must not be before from ${from.toISOString()}`);
    const now = this.deps.clock.now();
    const window = { from, to, runningSince: new Date(now.getTime() - runningInstanceLookbackMs) };
    const totals = { considered: 0, inserted: 0, updated: 0, unchanged: 0, alreadyFinal: 0, lostRaces: 0, pages: 0 };
    // Drafts first: they are finalised or grown before the other streams meet them again.
    for (const stream of candidateStreams) {
      let after: CandidateCursor | undefined;
      do {
        after = await this.reconcilePage(stream, window, after, now, totals);
      } while (after);
    }
    return { from, to, now, ...totals };
  }

  private async reconcilePage(
    stream: CandidateStream,
    window: { from: Date; to: Date; runningSince: Date },
    after: CandidateCursor | undefined,
    now: Date,
    totals: { considered: number; inserted: number; updated: number; unchanged: number; alreadyFinal: number; lostRaces: number; pages: number },
  ): Promise<CandidateCursor | undefined> {
    const page = await candidatePage(this.deps.db, stream, window, after, this.pageSize);
    const plan = planReconciliation(page.candidates, this.deps.prices, now);
    totals.pages += 1;
    totals.considered += page.candidates.length;
    totals.unchanged += plan.unchanged;
    totals.alreadyFinal += plan.alreadyFinal;
    if (plan.inserts.length > 0 || plan.updates.length > 0) {
      const applied = await inTransaction(this.deps.db, (tx) => applyInstanceUsage(tx, plan, now));
      totals.inserted += applied.inserted;
      totals.updated += applied.updated;
      totals.lostRaces += plan.inserts.length + plan.updates.length - applied.inserted - applied.updated;
    }
    return page.next;
  }
}
