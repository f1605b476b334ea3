// `tally account status ID` and `tally account unblock ID --reason`: blocked state and spending.
import { Command } from "commander";
import { write } from "./output.js";
import { exitCodes, UsageError, withMutationOptions, withServerOption, type MutationOptions, type ServerOptions } from "./remote.js";

export function accountCommand(): Command {
  const account = new Command("account").description("blocked status and spending of an attribution id");

  account.addCommand(
    withServerOption(
      new Command("status")
        .description(
          "show whether an attribution id is blocked, its balance against its spending limit; " +
            "exits 0 when it may start a workspace, 3 when its spending limit is reached, 4 when it is blocked",
        )
        .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
        .option("--json", "print the whole status as one JSON object (the exit code is the same)"),
    ).action(async (attributionId: string, options: ServerOptions & { json?: boolean }) => {
      // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
      const { clientFor } = await import("./client.js");
      const { AccountService } = await import("../gen/usage/v1/account_pb.js");
      const { timestampDate } = await import("@bufbuild/protobuf/wkt");
      const status = await clientFor(AccountService, options).getAccountStatus({ attributionId });
      const blockedTime = status.blockedTime ? timestampDate(status.blockedTime).toISOString() : undefined;
      const verdict = status.blocked ? "blocked" : status.limitReached ? "reached" : status.almostReached ? "warning" : "ok";
      const mayStartWorkspace = !status.blocked && !status.limitReached;
      process.exitCode = status.blocked ? exitCodes.blocked : status.limitReached ? exitCodes.limitReached : exitCodes.ok;
      const view = {
        attributionId,
        mayStartWorkspace,
        status: verdict,
        blocked: status.blocked,
        reason: status.reason || undefined,
        blockedTime,
        balanceCredits: status.balanceCredits,
        spendingLimit: status.spendingLimit,
        limitReached: status.limitReached,
        almostReached: status.almostReached,
        legacyPrice: status.legacyPrice,
        legacySubscriptionId: status.legacySubscriptionId || undefined,
        legacyUsagePriceId: status.legacyUsagePriceId || undefined,
      };
      if (options.json) {
        await write(JSON.stringify(view) + "\n");
        return;
      }
      const spending = status.limitReached ? "limit reached" : status.almostReached ? "almost reached" : "within limit";
      await write(
        [
          `attribution id  ${attributionId}`,
          `blocked         ${status.blocked ? `yes, since ${blockedTime}: ${status.reason}` : "no"}`,
          `balance         ${status.balanceCredits} credits`,
          `spending limit  ${status.spendingLimit} credits (${spending})`,
          `may start       ${mayStartWorkspace ? "yes" : `no (${status.blocked ? "blocked" : "spending limit reached"})`}`,
          ...(status.legacyPrice
            ? [
                `legacy price    yes: Stripe subscription ${status.legacySubscriptionId} is on usage price ${status.legacyUsagePriceId}, ` +
                  "which has no billing meter; its usage is not billed until `tally stripe migrate-prices` moves it",
              ]
            : []),
        ].join("\n") + "\n",
      );
    }),
  );

  account.addCommand(
    withMutationOptions(
      new Command("unblock")
        .description("lift every active block of an attribution id (admin)")
        .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
        .requiredOption("--reason <text>", "why the block is lifted; recorded with it"),
    ).action(async (attributionId: string, options: MutationOptions & { reason: string }) => {
      if (options.reason.trim() === "") throw new UsageError("--reason must not be blank");
      const { callMutation, clientFor } = await import("./client.js");
      const { AccountService } = await import("../gen/usage/v1/account_pb.js");
      const client = clientFor(AccountService, options);
      const { unblocked } = await callMutation(options, (callOptions) => client.unblockAttribution({ attributionId, reason: options.reason }, callOptions));
      await write(unblocked === 0n ? `${attributionId} was not blocked\n` : `lifted ${unblocked} block(s) of ${attributionId}\n`);
    }),
  );
  return account;
}
