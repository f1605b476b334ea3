// Changes the spending limit and billing strategy (UsageService.SetCostCenter, admin) after a
// confirmation that says what the change books: a strategy switch starts a new cycle, and a switch
// to Stripe balances out the usage so far with an invoice.
import { useState } from "preact/hooks";
import { accountClient, actionKey, describeError, reportClient, usageClient } from "../api.js";
import { formatCredits } from "../format.js";
import { useRemote } from "../use-remote.js";
import { CostCenter_BillingStrategy as Strategy } from "../../../src/gen/usage/v1/usage_pb.js";
import { ConfirmDialog } from "./confirm-dialog.js";
import { ErrorBox } from "./error-box.js";
import { Loading } from "./loading.js";
import { strategyName } from "./overview-card.js";

/** src/domain/cost-center.ts spendingLimitCreditsMax (int32 on the wire). */
const limitMax = 2_147_483_647;

interface Current {
  readonly limit: number;
  readonly strategy: Strategy;
  /** False: nothing is stored yet, these are the defaults the first use would store. */
  readonly stored: boolean;
  readonly balanceCredits: number;
}

/** What the change books, in words, for the confirmation. */
export function consequences(current: Current, limit: number, strategy: Strategy): string[] {
  const lines: string[] = [];
  if (!current.stored) lines.push("Stores the first cost center of this attribution id (nothing is stored yet).");
  if (current.strategy === Strategy.OTHER && strategy === Strategy.STRIPE) {
    lines.push(
      current.balanceCredits > 0
        ? `Books an invoice of −${formatCredits(current.balanceCredits)} credits that balances out the usage so far (the balance goes to 0.00); Stripe bills from now on.`
        : "Books nothing: the balance is not positive. Stripe bills from now on.",
    );
    lines.push("Starts a new billing cycle now.");
    lines.push(`Sets the spending limit to ${formatCredits(limit)} credits.`);
  } else if (current.strategy === Strategy.STRIPE && strategy === Strategy.OTHER) {
    lines.push("Books nothing. Starts a new billing cycle now.");
    lines.push("Restores the spending limit it last had when billed Other (or the default for its kind); the limit entered here is not used.");
  } else {
    lines.push(`Changes the spending limit from ${formatCredits(current.limit)} to ${formatCredits(limit)} credits. Books nothing; the billing cycle stays.`);
  }
  return lines;
}

export function CostCenterForm({ attributionId, version, onChanged }: { attributionId: string; version: number; onChanged: () => void }) {
  // Outlives the form, which starts afresh from the stored values after every change.
  const [saved, setSaved] = useState<string | undefined>();
  const current = useRemote(
    async (signal): Promise<Current> => {
      const [versions, balance, status] = await Promise.all([
        reportClient.listCostCenterVersions({ attributionId, pagination: { perPage: 1n } }, { signal }),
        usageClient.getBalance({ attributionId }, { signal }),
        // Its would-be default limit when nothing is stored yet (GetAccountStatus creates nothing).
        accountClient.getAccountStatus({ attributionId }, { signal }),
      ]);
      const costCenter = versions.versions[0]?.costCenter;
      return costCenter
        ? { limit: costCenter.spendingLimit, strategy: costCenter.billingStrategy, stored: true, balanceCredits: balance.credits }
        : { limit: status.spendingLimit, strategy: Strategy.OTHER, stored: false, balanceCredits: balance.credits };
    },
    [attributionId, version],
  );
  return (
    <section class="card" aria-labelledby="limit-title" aria-busy={current.loading}>
      <h2 id="limit-title">Spending limit and strategy</h2>
      <ErrorBox message={current.error} />
      {!current.data && current.loading && <Loading lines={3} />}
      {current.data && (
        <LimitForm
          // Starts afresh from the stored values once they are read again after a change.
          key={`${current.data.stored}:${current.data.limit}:${current.data.strategy}`}
          attributionId={attributionId}
          current={current.data}
          onEdit={() => setSaved(undefined)}
          onSaved={(message) => {
            setSaved(message);
            onChanged();
          }}
        />
      )}
      {saved && (
        <p class="form-status form-status--done" role="status" aria-live="polite">
          {saved}
        </p>
      )}
    </section>
  );
}

function LimitForm(props: { attributionId: string; current: Current; onEdit: () => void; onSaved: (message: string) => void }) {
  const { attributionId, current } = props;
  const [limitText, setLimitText] = useState(String(current.limit));
  const [strategy, setStrategy] = useState(current.strategy);
  const [error, setError] = useState<string | undefined>();
  const [review, setReview] = useState<{ limit: number; strategy: Strategy; lines: string[] } | undefined>();
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "done" | "failed"; message?: string }>({ kind: "idle" });
  const [key] = useState(actionKey);

  const reviewChange = (event: Event) => {
    event.preventDefault();
    const text = limitText.trim();
    const limit = Number(text);
    if (!/^\d+$/.test(text) || limit > limitMax) {
      setError(`Enter a whole number of credits from 0 to ${limitMax.toLocaleString("en-US")}.`);
      return;
    }
    setError(undefined);
    if (current.stored && limit === current.limit && strategy === current.strategy) {
      setStatus({ kind: "idle", message: "Nothing to change." });
      return;
    }
    setStatus({ kind: "idle" });
    props.onEdit();
    setReview({ limit, strategy, lines: consequences(current, limit, strategy) });
  };

  const confirm = async () => {
    if (!review) return;
    setStatus({ kind: "busy" });
    try {
      const request = { costCenter: { attributionId, spendingLimit: review.limit, billingStrategy: review.strategy } };
      const answer = await usageClient.setCostCenter(request, key.options(request));
      key.done();
      props.onSaved(`Saved: ${formatCredits(answer.costCenter?.spendingLimit ?? review.limit)} credits, billed ${strategyName(answer.costCenter?.billingStrategy)}.`);
    } catch (failure) {
      setStatus({ kind: "failed", message: describeError(failure) });
    }
  };

  return (
    <form class="limit-form" onSubmit={reviewChange} noValidate>
      {!current.stored && (
        <p class="field-hint" data-testid="limit-defaults">
          Nothing is stored yet: these are the defaults its first use would store.
        </p>
      )}
      <div class="limit-form__row">
        <div class="field">
          <label for="limit-credits">Spending limit (credits)</label>
          <input
            id="limit-credits"
            class="input"
            type="number"
            inputMode="numeric"
            min={0}
            step={1}
            value={limitText}
            disabled={review !== undefined}
            aria-invalid={error ? "true" : "false"}
            aria-describedby={error ? "limit-credits-error" : undefined}
            onInput={(e) => setLimitText(e.currentTarget.value)}
          />
          {error && (
            <p id="limit-credits-error" class="field-error">
              {error}
            </p>
          )}
        </div>
        <div class="field">
          <label for="limit-strategy">Billed by</label>
          <select
            id="limit-strategy"
            class="input"
            value={String(strategy)}
            disabled={review !== undefined}
            onChange={(e) => setStrategy(Number(e.currentTarget.value) as Strategy)}
          >
            <option value={String(Strategy.OTHER)}>Other (reset monthly)</option>
            <option value={String(Strategy.STRIPE)}>Stripe</option>
          </select>
        </div>
      </div>
      {review ? (
        <ConfirmDialog
          id="confirm"
          title="Confirm the change"
          confirmLabel="Confirm change"
          busyLabel="Saving…"
          busy={status.kind === "busy"}
          onConfirm={() => void confirm()}
          onCancel={() => setReview(undefined)}
        >
          {review.lines.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ConfirmDialog>
      ) : (
        <div class="form-actions">
          <button class="button button--primary" type="submit">
            Review change…
          </button>
        </div>
      )}
      <p class={`form-status form-status--${status.kind}`} role="status" aria-live="polite">
        {status.message ?? ""}
      </p>
    </form>
  );
}
