// `tally stripe sync`: adopts an existing installation's Stripe subscribers. `tally stripe migrate-prices`:
// moves subscriptions on a usage price without a billing meter (a legacy metered price) to the
// configured meter-backed one. Both run against the database and Stripe directly (like `tally
// migrate`), with the server's configuration (STRIPE_SECRET_KEY, ...).
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
      const { createLogger } = await import("../logger.js");
      const config = loadConfig({ ...process.env });
      if (!config.stripe) throw new UsageError("billing is not configured: set STRIPE_SECRET_KEY (and the usage price ids)");
      // Logs go to stderr: stdout is the command's report.
      const offline = await buildOfflineBilling(config, { logger: createLogger(config.logLevel, process.stderr) });
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
  stripe
    .command("migrate-prices")
    .description(
      "move every live subscription whose usage price has no billing meter (a legacy metered price) to the configured " +
        "meter-backed usage price of its currency, without proration, and clear the legacy flag (idempotent); " +
        "exits 0 when nothing failed, 1 when a subscription could not be moved, 2 when billing is not configured",
    )
    .option("--dry-run", "list what would be moved and change nothing (in Stripe or in Tally)")
    .action(async (options: { dryRun?: boolean }) => {
      const { loadConfig } = await import("../config.js");
      const { buildOfflineBilling } = await import("../app.js");
      const { createLogger } = await import("../logger.js");
      const config = loadConfig({ ...process.env });
      if (!config.stripe) throw new UsageError("billing is not configured: set STRIPE_SECRET_KEY (and the usage price ids)");
      const dryRun = options.dryRun === true;
      // Logs go to stderr: stdout is the command's report.
      const offline = await buildOfflineBilling(config, { logger: createLogger(config.logLevel, process.stderr) });
      try {
        const outcome = await offline.billing.migrateLegacyPrices({ dryRun });
        for (const item of outcome.subscriptions) {
          const who = `${item.attributionId} (${item.stripeCustomerId})`;
          if (item.action === "failed") {
            await write(`failed: ${item.subscriptionId ? `${item.subscriptionId} of ` : ""}${who}: ${item.error}\n`);
          } else {
            const move = `${item.subscriptionId} of ${who}: item ${item.itemId} from ${item.fromPriceId} (no billing meter) to ${item.toPriceId} (meter ${item.meterId})`;
            await write(item.action === "would_migrate" ? `would migrate ${move}\n` : `migrated ${move}\n`);
          }
        }
        for (const attributionId of outcome.flagsCleared) await write(`legacy flag cleared: ${attributionId}\n`);
        const count = (action: string) => outcome.subscriptions.filter((item) => item.action === action).length;
        const failed = count("failed");
        await write(
          `${dryRun ? "dry run, nothing changed: " : ""}read ${outcome.customersRead} Stripe customers and ${outcome.subscriptionsRead} live subscriptions: ` +
            `${outcome.subscriptions.filter((item) => item.subscriptionId).length} on a usage price without a billing meter, ` +
            `${dryRun ? `${count("would_migrate")} would be migrated` : `${count("migrated")} migrated`}, ${failed} failed` +
            `${dryRun ? "" : `, ${outcome.flagsCleared.length} legacy flags cleared`}\n`,
        );
        if (failed > 0) process.exitCode = 1;
      } finally {
        await offline.close();
      }
    });
  return stripe;
}
