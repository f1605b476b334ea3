// `tally balance ID`: the credits an attribution id used and has not yet paid for.
import { Command } from "commander";
import { write } from "./output.js";
import { withServerOption, type ServerOptions } from "./remote.js";

export function balanceCommand(): Command {
  return withServerOption(
    new Command("balance")
      .description("show the balance of an attribution id: credits used and not yet paid for (negative: credit left)")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--json", "print {attributionId, credits} as JSON"),
  ).action(async (attributionId: string, options: ServerOptions & { json?: boolean }) => {
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect (test/cli-start.test.ts).
    const { clientFor } = await import("./client.js");
    const { UsageService } = await import("../gen/usage/v1/usage_pb.js");
    const { credits } = await clientFor(UsageService, options).getBalance({ attributionId });
    await write(options.json ? JSON.stringify({ attributionId, credits }) + "\n" : `${credits} credits\n`);
  });
}
