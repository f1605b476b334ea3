// `tally credit add ID CREDITS --reason TEXT`: book a credit note.
// `tally credit subtract ID CREDITS --reason TEXT`: book a debit (a credit note of -CREDITS), as
// Gitpod's admin dashboard does to take credits back.
import { Command } from "commander";
import { creditNoteCreditsMax } from "../domain/limits.js";
import { parseWholeNumber } from "./arguments.js";
import { write } from "./output.js";
import { creditListCommand } from "./credit-list.js";
import { UsageError, withMutationOptions, type MutationOptions } from "./remote.js";

type CreditOptions = MutationOptions & { reason: string; user?: string };

function creditNoteCommand(name: "add" | "subtract", sign: 1 | -1, description: string, reasonHelp: string): Command {
  return withMutationOptions(
    new Command(name)
      .description(description)
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .argument("<credits>", `whole credits, 1 to ${creditNoteCreditsMax}`)
      .requiredOption("--reason <text>", `${reasonHelp} (stored as the entry's description and in the audit log)`)
      .option("--user <uuid>", "the user the credit note is for"),
  ).action(async (attributionId: string, creditsText: string, options: CreditOptions) => {
    const amount = parseWholeNumber(creditsText, "CREDITS", { min: 1, max: creditNoteCreditsMax });
    if (options.reason.trim() === "") throw new UsageError("--reason must not be blank");
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { callMutation, clientFor } = await import("./client.js");
    const { UsageService } = await import("../gen/usage/v1/usage_pb.js");
    const client = clientFor(UsageService, options);
    const request = { attributionId, credits: sign * amount, description: options.reason, userId: options.user ?? "" };
    await callMutation(options, (callOptions) => client.addUsageCreditNote(request, callOptions));
    const { credits: balance } = await client.getBalance({ attributionId });
    const what = sign > 0 ? `added a credit note of ${amount} credits to` : `subtracted ${amount} credits from`;
    await write(`${what} ${attributionId}; balance is now ${balance} credits\n`);
  });
}

export function creditCommand(): Command {
  const add = creditNoteCommand(
    "add",
    1,
    "book a credit note: lowers the balance of an attribution id by CREDITS, with the reason on record",
    "why the credit is given",
  );
  const subtract = creditNoteCommand(
    "subtract",
    -1,
    "take credits back: a credit note of -CREDITS raises the balance of an attribution id by CREDITS, with the reason on record",
    "why the credits are taken back",
  );
  return new Command("credit")
    .description("credit notes: add, subtract (a debit), ls")
    .addCommand(add)
    .addCommand(subtract)
    .addCommand(creditListCommand());
}
