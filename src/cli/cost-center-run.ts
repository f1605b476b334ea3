// `tally cost-center get|set`: the calls and the view (the commands' definitions: cost-center.ts).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { CostCenter_BillingStrategy, UsageService, type CostCenter } from "../gen/usage/v1/usage_pb.js";
import { parseChoice, parseWholeNumber } from "./arguments.js";
import { callMutation, clientFor } from "./client.js";
import type { CostCenterGetOptions, CostCenterSetOptions } from "./cost-center.js";
import { formatTable, write } from "./output.js";
import { UsageError } from "./remote.js";

export async function getCostCenter(attributionId: string, options: CostCenterGetOptions): Promise<void> {
  const { costCenter } = await clientFor(UsageService, options).getCostCenter({ attributionId });
  await show(costCenter, options.json);
}

export async function setCostCenter(attributionId: string, options: CostCenterSetOptions): Promise<void> {
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
