// `tally cost-center get|set ID`: spending limit and billing strategy of an attribution id. What
// they do: cost-center-run.ts, loaded when a command runs.
import { Command } from "commander";
import { withMutationOptions, withServerOption, type MutationOptions, type ServerOptions } from "./remote.js";

export type CostCenterGetOptions = ServerOptions & { json?: boolean };
export type CostCenterSetOptions = MutationOptions & { limit?: string; strategy?: string; json?: boolean };

export function costCenterCommand(): Command {
  const get = withServerOption(
    new Command("get")
      .description("show the current cost center (created with the default limit on first use)")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--json", "print as JSON"),
  ).action(async (attributionId: string, options: CostCenterGetOptions) => {
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { getCostCenter } = await import("./cost-center-run.js");
    await getCostCenter(attributionId, options);
  });

  const set = withMutationOptions(
    new Command("set")
      .description("store a new version of the cost center; what is not given is kept")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--limit <credits>", "spending limit in whole credits, not negative")
      .option("--strategy <strategy>", "billing strategy: stripe or other")
      .option("--json", "print as JSON"),
  ).action(async (attributionId: string, options: CostCenterSetOptions) => {
    const { setCostCenter } = await import("./cost-center-run.js");
    await setCostCenter(attributionId, options);
  });

  return new Command("cost-center").description("cost centers: spending limit, billing strategy and cycle").addCommand(get).addCommand(set);
}
