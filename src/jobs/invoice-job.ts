// The invoice job (Stripe only): ReconcileInvoices, reporting each STRIPE cost center's usage to
// Stripe and booking invoices the webhook missed (SPEC.md Part B).
import type { BillingService } from "../services/billing-service.js";
import type { ScheduledJob } from "./job-scheduler.js";

export function invoiceJob(billing: BillingService, intervalMs: number): ScheduledJob {
  return {
    name: "invoices",
    intervalMs,
    async run() {
      const outcome = await billing.reconcileInvoices();
      if (outcome.failed.length > 0) {
        // The others were reconciled; the run still counts as failed so the metric shows it.
        const first = outcome.failed[0]!;
        const why = first.error instanceof Error ? first.error.message : String(first.error);
        throw new Error(
          `${outcome.failed.length} Stripe cost centers could not be reconciled (${outcome.reported} were), first ${first.attributionId}: ${why}`,
        );
      }
      return { reported: outcome.reported, invoicesBooked: outcome.invoicesBooked, cyclesAdvanced: outcome.cyclesAdvanced };
    },
  };
}
