// The reset job: ResetUsage, closing expired cycles of cost centers billed "other" (SPEC.md Part B).
import type { CostCenterService } from "../services/cost-center-service.js";
import type { ScheduledJob } from "./job-scheduler.js";

export function resetJob(costCenters: CostCenterService, intervalMs: number): ScheduledJob {
  return {
    name: "reset",
    intervalMs,
    async run() {
      const outcome = await costCenters.resetAllDue();
      if (outcome.failed.length > 0) {
        // The others were reset (one failure does not stop them); the run still counts as failed.
        const first = outcome.failed[0]!;
        const why = first.error instanceof Error ? first.error.message : String(first.error);
        throw new Error(`${outcome.failed.length} cost centers could not be reset (${outcome.reset} were), first ${first.attributionId}: ${why}`);
      }
      return { reset: outcome.reset };
    },
  };
}
