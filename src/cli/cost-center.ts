// `tally cost-center get|set ID`: spending limit and billing strategy of an attribution id.
import { Command } from "commander";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { CostCenter_BillingStrategy, UsageService, type CostCenter } from "../gen/usage/v1/usage_pb.js";
import { parseChoice, parseWholeNumber } from "./arguments.js";
import { formatTable, write } from "./output.js";
import { callMutation, clientFor, UsageError, withMutationOptions, withServerOption, type MutationOptions, type ServerOptions } from "./remote.js";

export function costCenterCommand(): Command {
  const get = withServerOption(
    new Command("get")
      .description("show the current cost center (created with the default limit on first use)")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--json", "print as JSON"),
  ).action(async (attributionId: string, options: ServerOptions & { json?: boolean }) => {
    const { costCenter } = await clientFor(UsageService, options).getCostCenter({ attributionId });
    await show(costCenter, options.json);
  });

  const set = withMutationOptions(
    new Command("set")
      .description("store a new version of the cost center; what is not given is kept")
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--limit <credits>", "spending limit in whole credits, not negative")
      .option("--strategy <strategy>", "billing strategy: stripe or other")
      .option("--json", "print as JSON"),
  ).action(async (attributionId: string, options: MutationOptions & { limit?: string; strategy?: string; json?: boolean }) => {
    if (options.limit === undefined && options.strategy === undefined) throw new UsageError("give --limit, --strategy or both");
    const spendingLimit = options.limit === undefined ? undefined : parseWholeNumber(options.limit, "--limit", { min: 0, max: 2_147_483_647 });
    const strategy = options.strategy === undefined ? undefined : parseChoice(options.strategy, "--strategy", ["stripe", "other"] as const);
    const client = clientFor(UsageService, options);
    const current = spendingLimit === undefined || strategy === undefined ? (await client.getCostCenter({ attributionId })).costCenter : undefined;
    const request = {
      costCenter: {
        attributionId,
        spendingLimit: spendingLimit ?? current?.spendingLimit ?? 0,
        billingStrategy:
          strategy === undefined
            ? (current?.billingStrategy ?? CostCenter_BillingStrategy.OTHER)
            : strategy === "stripe"
              ? CostCenter_BillingStrategy.STRIPE
              : CostCenter_BillingStrategy.OTHER,
      },
    };
    const { costCenter } = await callMutation(options, (callOptions) => client.setCostCenter(request, callOptions));
    await show(costCenter, options.json);
  });

  return new Command("cost-center").description("cost centers: spending limit, billing strategy and cycle").addCommand(get).addCommand(set);
}

async function show(costCenter: CostCenter | undefined, json: boolean | undefined): Promise<void> {
  if (!costCenter) throw new Error("the server answered without a cost center");
  const iso = (t: CostCenter["billingCycleStart"]) => (t ? timestampDate(t).toISOString() : "");
  const view = {
    attributionId: costCenter.attributionId,
    spendingLimit: costCenter.spendingLimit,
    billingStrategy: costCenter.billingStrategy === CostCenter_BillingStrategy.STRIPE ? "stripe" : "other",
    billingCycleStart: iso(costCenter.billingCycleStart),
    nextBillingTime: iso(costCenter.nextBillingTime),
  };
  if (json) return write(JSON.stringify(view) + "\n");
  await write(
    formatTable(
      ["FIELD", "VALUE"],
      [
        ["attribution id", view.attributionId],
        ["spending limit", `${view.spendingLimit} credits`],
        ["billing strategy", view.billingStrategy],
        ["billing cycle start", view.billingCycleStart],
        ["next billing time", view.nextBillingTime],
      ],
    ),
  );
}
