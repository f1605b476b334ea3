// `tally balance ID`: the credits an attribution id used and has not yet paid for.
import { Command } from "commander";
import { UsageService } from "../gen/usage/v1/usage_pb.js";
import { write } from "./output.js";
import { clientFor, withServerOption, type ServerOptions } from "./remote.js";

export function balanceCommand(): Command {
  return withServerOption(
    new Command("balance")
      .description("show the balance of an attribution id: credits used and not yet paid for (negative: credit left)")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--json", "print {attributionId, credits} as JSON"),
  ).action(async (attributionId: string, options: ServerOptions & { json?: boolean }) => {
    const { credits } = await clientFor(UsageService, options).getBalance({ attributionId });
    await write(options.json ? JSON.stringify({ attributionId, credits }) + "\n" : `${credits} credits\n`);
  });
}
