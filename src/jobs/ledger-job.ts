// The ledger job: ReconcileUsage over the window since the last successful run (SPEC.md Part B).
import { ledgerWindow } from "../domain/reconciliation.js";
import type { UsageReconciler } from "../services/usage-reconciler.js";
import type { ScheduledJob } from "./job-scheduler.js";

export function ledgerJob(reconciler: UsageReconciler, intervalMs: number): ScheduledJob {
  return {
    name: "ledger",
    intervalMs,
    async run({ now, lastSuccessAt, signal }) {
      const { from, to } = ledgerWindow(lastSuccessAt, now);
      const summary = await reconciler.reconcile(from, to, signal);
      return {
        from: from.toISOString(),
        to: to.toISOString(),
        considered: summary.considered,
        inserted: summary.inserted,
        updated: summary.updated,
        unchanged: summary.unchanged,
        lostRaces: summary.lostRaces,
        pages: summary.pages,
        writes: summary.writes,
        ...(summary.source === undefined ? {} : { source: summary.source }),
      };
    },
  };
}
