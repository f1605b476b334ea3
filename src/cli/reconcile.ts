// `tally reconcile`: book workspace-instance usage of a time range now (what the ledger job does), and
// say how many ledger entries it created, updated and finalized.
import { Command } from "commander";
import { parseTime } from "./arguments.js";
import { write } from "./output.js";
import { UsageError, withServerOption, type ServerOptions } from "./remote.js";

const dayMs = 24 * 60 * 60 * 1000;

export function reconcileCommand(): Command {
  return withServerOption(
    new Command("reconcile")
      .description("run ReconcileUsage over [from, to): create or update the ledger entry of every instance in it (idempotent)")
      .option("--from <time>", "start: 2026-01-01 (UTC) or 2026-01-01T12:00:00Z (default: 24 hours before --to)")
      .option("--to <time>", "end (default: now)"),
  ).action(async (options: ServerOptions & { from?: string; to?: string }) => {
    const to = options.to === undefined ? new Date() : parseTime(options.to, "--to");
    const from = options.from === undefined ? new Date(to.getTime() - dayMs) : parseTime(options.from, "--from");
    if (from > to) throw new UsageError(`--from ${from.toISOString()} must not be after --to ${to.toISOString()}`);
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { clientFor } = await import("./client.js");
    const { UsageService } = await import("../gen/usage/v1/usage_pb.js");
    const { timestampFromDate: toTimestamp } = await import("@bufbuild/protobuf/wkt");
    const done = await clientFor(UsageService, options).reconcileUsage({ from: toTimestamp(from), to: toTimestamp(to) });
    await write(
      `reconciled usage from ${from.toISOString()} to ${to.toISOString()}: ` +
        `${done.created} created, ${done.updated} updated, ${done.finalized} finalized\n`,
    );
  });
}
