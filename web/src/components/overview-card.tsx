// Balance against the spending limit (gauge), the current cost center and the blocked status
// (AccountService.GetAccountStatus), with the action to lift a block, and a warning while the team's
// Stripe subscription is on a legacy usage price (no billing meter: unbilled until migrated).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { accountClient, describeError, isAbort, reportClient, usageClient } from "../api.js";
import { formatCredits, formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import type { GetAccountStatusResponse } from "../../../src/gen/usage/v1/account_pb.js";
import { CostCenter_BillingStrategy, type CostCenter } from "../../../src/gen/usage/v1/usage_pb.js";
import { ErrorBox } from "./error-box.js";
import { Gauge, limitState } from "./gauge.js";
import { Loading } from "./loading.js";
import { UnblockForm } from "./unblock-form.js";

/** The account status, or why it could not be read (the balance is still worth showing then). */
type StatusResult = { readonly ok: true; readonly status: GetAccountStatusResponse } | { readonly ok: false; readonly message: string };

export function strategyName(strategy: CostCenter_BillingStrategy | undefined): string {
  return strategy === CostCenter_BillingStrategy.STRIPE ? "Stripe" : "Other";
}

export function OverviewCard({ attributionId, version, onChanged }: { attributionId: string; version: number; onChanged: () => void }) {
  const overview = useRemote(
    async (signal) => {
      const [balance, versions, status] = await Promise.all([
        usageClient.getBalance({ attributionId }, { signal }),
        reportClient.listCostCenterVersions({ attributionId, pagination: { perPage: 1n } }, { signal }),
        accountClient.getAccountStatus({ attributionId }, { signal }).then(
          (status): StatusResult => ({ ok: true, status }),
          (error: unknown): StatusResult => {
            if (isAbort(error)) throw error;
            return { ok: false, message: describeError(error) };
          },
        ),
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
      {!data && overview.loading && <Loading lines={4} label="Loading the balance…" />}
      {data && (
        <div class="overview__body">
          {data.costCenter ? (
            <Gauge balanceCredits={data.balanceCredits} limitCredits={data.costCenter.spendingLimit} />
          ) : data.status.ok ? (
            // Never stored: GetAccountStatus answers with the default limit its first use would store.
            <div>
              <Gauge balanceCredits={data.balanceCredits} limitCredits={data.status.status.spendingLimit} />
              <p class="field-hint overview__defaults">No cost center is stored yet: shown with the default limit its first use would store.</p>
            </div>
          ) : (
            <div class="overview__no-limit">
              <div class="gauge__value-text" data-testid="balance">
                {formatCredits(data.balanceCredits)}
              </div>
              <p class="field-hint">credits used. No cost center is stored yet: the configured default limit applies on first use.</p>
            </div>
          )}
          <dl class="facts">
            <StatusFact attributionId={attributionId} result={data.status} onUnblocked={onChanged} />
            {data.status.ok && data.status.status.legacyPrice && <LegacyPriceFact status={data.status.status} />}
            {data.costCenter && <CostCenterFacts costCenter={data.costCenter} balanceCredits={data.balanceCredits} />}
            {!data.costCenter && data.status.ok && <DefaultFacts status={data.status.status} balanceCredits={data.balanceCredits} />}
          </dl>
        </div>
      )}
    </section>
  );
}

function StatusFact({ attributionId, result, onUnblocked }: { attributionId: string; result: StatusResult; onUnblocked: () => void }) {
  let value;
  if (!result.ok) {
    value = <span class="status-error">Unknown: {result.message}</span>;
  } else if (result.status.blocked) {
    const since = formatUtc(result.status.blockedTime);
    value = (
      <>
        <span class="badge badge--danger">Blocked</span> {result.status.reason}
        {since && <span class="muted"> (since {since} UTC)</span>}
      </>
    );
  } else {
    value = <span class="badge badge--ok">Not blocked</span>;
  }
  return (
    <div>
      <dt>Status</dt>
      <dd data-testid="account-status" aria-live="polite">
        {value}
      </dd>
      {result.ok && result.status.blocked && (
        <dd class="status-action">
          <UnblockForm attributionId={attributionId} onUnblocked={onUnblocked} />
        </dd>
      )}
    </div>
  );
}

/** The Stripe subscription is on a usage price without a billing meter: its usage is not billed until migrated. */
function LegacyPriceFact({ status }: { status: GetAccountStatusResponse }) {
  return (
    <div>
      <dt>Stripe price</dt>
      <dd data-testid="legacy-price">
        <span class="badge badge--warn">Legacy price</span> subscription {status.legacySubscriptionId} is on usage price{" "}
        {status.legacyUsagePriceId}, which has no billing meter: its usage is not billed until{" "}
        <code>tally stripe migrate-prices</code> moves it to the configured price.
      </dd>
    </div>
  );
}

/** A never-seen attribution id: the defaults, including "limit reached" when the default limit is 0. */
function DefaultFacts({ status, balanceCredits }: { status: GetAccountStatusResponse; balanceCredits: number }) {
  const state = status.limitReached ? "reached" : limitState(balanceCredits, status.spendingLimit);
  return (
    <>
      <div>
        <dt>Spending limit</dt>
        <dd data-testid="default-limit">
          {formatCredits(status.spendingLimit)} credits <span class="muted">(default)</span>{" "}
          {state !== "ok" && (
            <span class={`badge ${state === "reached" ? "badge--danger" : "badge--warn"}`}>{state === "reached" ? "Limit reached" : "Almost reached"}</span>
          )}
        </dd>
      </div>
      <div>
        <dt>Billed by</dt>
        <dd>Other <span class="muted">(default)</span></dd>
      </div>
    </>
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
