// `tally stripe sync`: adopts an existing installation's Stripe subscribers. Runs against the database
// and Stripe directly (like `tally migrate`), with the server's configuration (STRIPE_SECRET_KEY, ...).
import { Command } from "commander";
import { write } from "./output.js";
import { UsageError } from "./remote.js";

export function stripeCommand(): Command {
  const stripe = new Command("stripe").description("Stripe billing maintenance (uses DATABASE_URL or TALLY_DATA_DIR, and STRIPE_* settings)");
  stripe
    .command("sync")
    .description(
      "find Stripe customers with metadata.attributionId and a live subscription, store them, and bill their cost centers through Stripe (idempotent)",
    )
    .action(async () => {
      const { loadConfig } = await import("../config.js");
      const { buildOfflineBilling } = await import("../app.js");
      const config = loadConfig({ ...process.env });
      if (!config.stripe) throw new UsageError("billing is not configured: set STRIPE_SECRET_KEY (and the usage price ids)");
      const offline = await buildOfflineBilling(config);
      try {
        const outcome = await offline.billing.syncStripeSubscribers();
        await write(
          `read ${outcome.customersRead} Stripe customers, ${outcome.attributionIds} with metadata.attributionId: ` +
            `${outcome.subscribers} with a live subscription, ${outcome.stored} stored or updated, ${outcome.switched} switched to STRIPE, ` +
            `${outcome.unchanged} unchanged, ${outcome.withoutSubscription} without a live subscription, ${outcome.failed.length} failed\n`,
        );
        for (const failure of outcome.failed) await write(`failed: ${failure.attributionId}: ${failure.error}\n`);
        if (outcome.failed.length > 0) process.exitCode = 1;
      } finally {
        await offline.close();
      }
    });
  return stripe;
}
