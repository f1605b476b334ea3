// `tally reset`: close expired billing cycles now (what the reset job does on its schedule).
import { Command } from "commander";
import { UsageService } from "../gen/usage/v1/usage_pb.js";
import { write } from "./output.js";
import { clientFor, withServerOption, type ServerOptions } from "./remote.js";

export function resetCommand(): Command {
  return withServerOption(
    new Command("reset").description(
      "run ResetUsage: every cost center billed \"other\" whose cycle ended gets its next cycle and an invoice entry (idempotent)",
    ),
  ).action(async (options: ServerOptions) => {
    await clientFor(UsageService, options).resetUsage({});
    await write("reset done: every expired billing cycle billed \"other\" is closed\n");
  });
}
