// Balance against the spending limit (gauge), the current cost center and the blocked status.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { fetchAccountStatus, type AccountStatus } from "../account-status.js";
import { reportClient, usageClient } from "../api.js";
import { formatCredits, formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import { CostCenter_BillingStrategy, type CostCenter } from "../../../src/gen/usage/v1/usage_pb.js";
import { ErrorBox } from "./error-box.js";
import { Gauge, limitState } from "./gauge.js";

export function strategyName(strategy: CostCenter_BillingStrategy | undefined): string {
  return strategy === CostCenter_BillingStrategy.STRIPE ? "Stripe" : "Other";
}

export function OverviewCard({ attributionId, version }: { attributionId: string; version: number }) {
  const overview = useRemote(
    async (signal) => {
      const [balance, versions, status] = await Promise.all([
        usageClient.getBalance({ attributionId }, { signal }),
        reportClient.listCostCenterVersions({ attributionId, pagination: { perPage: 1n } }, { signal }),
        fetchAccountStatus(attributionId, signal).catch((error: unknown): AccountStatus => ({ kind: "failed", message: String(error) })),
      ]);
      return { balanceCredits: balance.credits, costCenter: versions.versions[0]?.costCenter, status };
    },
    [attributionId, version],
  );
  const data = overview.data;
  return (
    <section class="card overview" aria-labelledby="overview-title" aria-busy={overview.loading}>
      <h2 id="overview-title">Balance</h2>
      <ErrorBox message={overview.error} />
      {data && (
        <div class="overview__body">
          {data.costCenter ? (
            <Gauge balanceCredits={data.balanceCredits} limitCredits={data.costCenter.spendingLimit} />
          ) : (
            <div class="overview__no-limit">
              <div class="gauge__value-text" data-testid="balance">
                {formatCredits(data.balanceCredits)}
              </div>
              <p class="field-hint">credits used. No cost center is stored yet: the configured default limit applies on first use.</p>
            </div>
          )}
          <dl class="facts">
            <StatusFact status={data.status} />
            {data.costCenter && <CostCenterFacts costCenter={data.costCenter} balanceCredits={data.balanceCredits} />}
          </dl>
        </div>
      )}
    </section>
  );
}

function StatusFact({ status }: { status: AccountStatus }) {
  let value;
  if (status.kind === "served") {
    value = status.blocked ? (
      <>
        <span class="badge badge--danger">Blocked</span> {status.reason}
        {status.blockedTime && <span class="muted"> (since {status.blockedTime.toISOString().slice(0, 16).replace("T", " ")} UTC)</span>}
      </>
    ) : (
      <span class="badge badge--ok">Not blocked</span>
    );
  } else if (status.kind === "not-served") {
    value = <span class="muted" title="usage.v1.AccountService.GetAccountStatus is not served by this server">Not available on this server</span>;
  } else {
    value = <span class="muted">Unknown ({status.message})</span>;
  }
  return (
    <div>
      <dt>Status</dt>
      <dd data-testid="account-status">{value}</dd>
    </div>
  );
}

function CostCenterFacts({ costCenter, balanceCredits }: { costCenter: CostCenter; balanceCredits: number }) {
  const state = limitState(balanceCredits, costCenter.spendingLimit);
  const ended = costCenter.nextBillingTime && timestampDate(costCenter.nextBillingTime) <= new Date();
  return (
    <>
      <div>
        <dt>Spending limit</dt>
        <dd>
          {formatCredits(costCenter.spendingLimit)} credits{" "}
          {state !== "ok" && (
            <span class={`badge ${state === "reached" ? "badge--danger" : "badge--warn"}`}>{state === "reached" ? "Reached" : "Almost reached"}</span>
          )}
        </dd>
      </div>
      <div>
        <dt>Billed by</dt>
        <dd>{strategyName(costCenter.billingStrategy)}</dd>
      </div>
      <div>
        <dt>Cycle</dt>
        <dd>
          {formatUtc(costCenter.billingCycleStart)} → {formatUtc(costCenter.nextBillingTime)} UTC
          {ended && <span class="badge badge--warn">ended, reset pending</span>}
        </dd>
      </div>
    </>
  );
}
