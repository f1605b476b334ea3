// `tally credit ls ID`: the entries that pay for usage (credit notes and invoices), newest first.
// The listing itself: credit-list-run.ts, loaded when the command runs.
import { Command } from "commander";
import { listUsagePageSizeMax } from "../domain/limits.js";
import { withServerOption, type ServerOptions } from "./remote.js";

export interface CreditLsOptions extends ServerOptions {
  page: string;
  perPage: string;
  json?: boolean;
}

export function creditListCommand(): Command {
  return withServerOption(
    new Command("ls")
      .description("list the credit notes and invoices of an attribution id, newest first (credits negative: they lower the balance)")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--page <n>", "the page to show", "1")
      .option("--per-page <n>", `entries per page, at most ${listUsagePageSizeMax}`, "50")
      .option("--json", "print the page's entries as JSON Lines (one object per line)"),
  ).action(async (attributionId: string, options: CreditLsOptions) => {
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { listCredits } = await import("./credit-list-run.js");
    await listCredits(attributionId, options);
  });
}
