// `tally reset`: close expired billing cycles now (what the reset job does on its schedule).
import { Command } from "commander";
import { write } from "./output.js";
import { withServerOption, type ServerOptions } from "./remote.js";

export function resetCommand(): Command {
  return withServerOption(
    new Command("reset").description(
      "run ResetUsage: every cost center billed \"other\" whose cycle ended gets its next cycle and an invoice entry (idempotent)",
    ),
  ).action(async (options: ServerOptions) => {
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { clientFor } = await import("./client.js");
    const { UsageService } = await import("../gen/usage/v1/usage_pb.js");
    await clientFor(UsageService, options).resetUsage({});
    await write("reset done: every expired billing cycle billed \"other\" is closed\n");
  });
}
