// `tally credit add ID CREDITS --reason TEXT`: book a credit note.
import { Command } from "commander";
import { creditNoteCreditsMax } from "../domain/credit-note.js";
import { UsageService } from "../gen/usage/v1/usage_pb.js";
import { parseWholeNumber } from "./arguments.js";
import { write } from "./output.js";
import { creditListCommand } from "./credit-list.js";
import { callMutation, clientFor, UsageError, withMutationOptions, type MutationOptions } from "./remote.js";

export function creditCommand(): Command {
  const add = withMutationOptions(
    new Command("add")
      .description("book a credit note: lowers the balance of an attribution id by CREDITS, with the reason on record")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .argument("<credits>", `whole credits, 1 to ${creditNoteCreditsMax}`)
      .requiredOption("--reason <text>", "why the credit is given (stored as the entry's description and in the audit log)")
      .option("--user <uuid>", "the user the credit note is for"),
  ).action(async (attributionId: string, creditsText: string, options: MutationOptions & { reason: string; user?: string }) => {
    const credits = parseWholeNumber(creditsText, "CREDITS", { min: 1, max: creditNoteCreditsMax });
    if (options.reason.trim() === "") throw new UsageError("--reason must not be blank");
    const client = clientFor(UsageService, options);
    const request = { attributionId, credits, description: options.reason, userId: options.user ?? "" };
    await callMutation(options, (callOptions) => client.addUsageCreditNote(request, callOptions));
    const { credits: balance } = await client.getBalance({ attributionId });
    await write(`added a credit note of ${credits} credits to ${attributionId}; balance is now ${balance} credits\n`);
  });
  return new Command("credit").description("credit notes").addCommand(add).addCommand(creditListCommand());
}
