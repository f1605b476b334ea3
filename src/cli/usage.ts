// `tally usage ls ID`: one page of usage as a table, or every entry as CSV or JSON Lines; with
// `--kind all` the export holds credit notes and invoices too, so its credits add up to the balance change.
// The listing and the export: usage-run.ts, loaded when the command runs.
import { Command, Option } from "commander";
import { listUsagePageSizeMax } from "../domain/limits.js";
import { withServerOption, type ServerOptions } from "./remote.js";

export const entryKinds = ["workspace_instance", "credit_note", "invoice", "all"] as const;
export type EntryKind = (typeof entryKinds)[number];

export interface UsageLsOptions extends ServerOptions {
  from?: string;
  to?: string;
  user?: string;
  page: string;
  perPage: string;
  order: string;
  kind: string;
  json?: boolean;
  csv?: boolean;
  progress: boolean;
}

export function usageCommand(): Command {
  const usage = new Command("usage").description("workspace-instance usage in the ledger");
  const ls = withServerOption(
    new Command("ls")
      .description(
        "list usage of an attribution id: one page as a table, or with --csv / --json every entry of the range " +
          "(any length: it walks 300-day windows and every page, in constant memory)",
      )
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--from <time>", "start, inclusive: 2026-01-01 (UTC) or 2026-01-01T12:00:00Z (default: 300 days before --to)")
      .option("--to <time>", "end, exclusive (default: now)")
      .option("--user <uuid>", "only entries of this user")
      .option("--page <n>", "table: the page to show", "1")
      .option("--per-page <n>", `table: entries per page, at most ${listUsagePageSizeMax}`, "50")
      .option("--order <order>", "desc (newest first) or asc", "desc")
      .option(
        "--kind <kind>",
        `which entries --csv / --json write: ${entryKinds.join(", ")} (all: usage, credit notes and invoices, ` +
          "whose credits add up to the balance change over the range)",
        "workspace_instance",
      )
      .addOption(new Option("--csv", "write every entry as CSV (RFC 4180) to stdout").conflicts("json"))
      .addOption(new Option("--json", "write every entry as JSON Lines (one object per line) to stdout").conflicts("csv"))
      .option("--no-progress", "no progress bar on stderr during --csv / --json (never shown when stderr is not a terminal)"),
  ).action(async (attributionId: string, options: UsageLsOptions) => {
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { listUsage } = await import("./usage-run.js");
    await listUsage(attributionId, options);
  });
  return usage.addCommand(ls);
}
