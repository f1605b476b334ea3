// Cost centers: get-or-create, versioned changes, and cycle resets. Each change runs in one
// transaction holding the attribution lock, with its ledger entries and balance change.
import { randomUUID } from "node:crypto";
import type { Clock } from "../domain/clock.js";
import { costCenterChanged, invoiceBooked, type NewAccountEvent } from "../domain/account-event.js";
import type { EventRecorder } from "../events/event-recorder.js";
import { parseAttributionId, type AttributionId } from "../domain/attribution-id.js";
import {
  defaultSpendingLimitFor,
  initialCostCenter,
  isResetDue,
  planCostCenterChange,
  planReset,
  validateSpendingLimit,
  type BillingStrategy,
  type DefaultSpendingLimits,
  type StoredCostCenter,
  type BalancingInvoice,
  type CostCenter,
} from "../domain/cost-center.js";
import { sourceKeys, type LedgerEntry } from "../domain/ledger-entry.js";
import { failedPrecondition } from "../domain/tally-error.js";
import { lockAttribution } from "../store/balances.js";
import {
  getCurrentCostCenter,
  insertCostCenterVersion,
  lastOtherSpendingLimit,
  listCurrentAttributionIds,
} from "../store/cost-centers.js";
import type { Database } from "../store/database.js";
import { insertEntries } from "../store/ledger.js";
import { inTransaction, type Transaction } from "../store/transactions.js";
import type { IdempotencyClaim } from "../domain/idempotency-key.js";
import { idempotentTransaction } from "./idempotency.js";

/** Cost centers reset per batch query; the reset run pages through all due ones. */
export const resetBatchSizeMax = 500;

/**
 * The spending limit of a new `team:` cost center when it is not simply the configured default (Gitpod
 * mode's first-organization free credits). `prepare` runs before the transaction (it may read another
 * database); `limitFor` runs in the transaction that creates the cost center, under its lock.
 */
export interface NewTeamLimit<Prepared = unknown> {
  prepare(organizationId: string): Promise<Prepared>;
  limitFor(tx: Transaction, organizationId: string, prepared: Prepared, now: Date): Promise<number>;
}

export interface CostCenterServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly defaultSpendingLimit: DefaultSpendingLimits;
  /** Whether anything would ever invoice a STRIPE cost center. */
  readonly stripeEnabled: boolean;
  /** Events of each change (new version, balancing invoice, limit crossing) go to the outbox in its transaction. */
  readonly events?: EventRecorder;
  /** Gitpod mode: the limit of a new team's cost center follows the free-credit rule. */
  readonly newTeamLimit?: NewTeamLimit;
}

/** What `NewTeamLimit.prepare` found for an attribution id that had no cost center when looked at without a lock. */
type Prepared = { readonly value: unknown } | undefined;

/** Called in the transaction that created a cost center with the defaults. */
export type OnCostCenterCreated = (tx: Transaction, created: StoredCostCenter, now: Date) => Promise<void>;

export interface ResetOutcome {
  readonly reset: number;
  readonly failed: ReadonlyArray<{ attributionId: string; error: unknown }>;
}

export class CostCenterService {
  constructor(private readonly deps: CostCenterServiceDeps) {}

  /**
   * The current cost center, created on first use and reset first if its cycle expired.
   * `onCreated` runs in the transaction that creates one (the audit row of a read that created it).
   */
  async get(attributionIdText: string, onCreated?: OnCostCenterCreated): Promise<StoredCostCenter> {
    const attribution = parseAttributionId(attributionIdText);
    const now = this.deps.clock.now();
    // Fast path without locks: the common case is an existing, current cost center.
    const existing = await getCurrentCostCenter(this.deps.db, attribution.text);
    if (existing && !isResetDue(existing, now)) return existing;
    const prepared = existing ? undefined : await this.prepareNew(attribution);
    const stored = await inTransaction(this.deps.db, async (tx) => {
      const balanceCents = await lockAttribution(tx, attribution.text, now);
      const current = await this.currentOrCreate(tx, attribution, now, { onCreated, prepared });
      return (await this.resetLocked(tx, current, balanceCents, now)) ?? current;
    });
    this.deps.events?.committed();
    return stored;
  }

  /**
   * The cost center as GetCostCenter would return it, without creating one for an attribution id
   * never seen (reads must not write): such an id gets the defaults it would be created with.
   * An existing cost center whose cycle expired is still reset first, so its balance is current.
   */
  async currentOrDefault(attributionIdText: string): Promise<CostCenter> {
    const attribution = parseAttributionId(attributionIdText);
    const now = this.deps.clock.now();
    const existing = await getCurrentCostCenter(this.deps.db, attribution.text);
    if (!existing) return initialCostCenter(attribution, this.deps.defaultSpendingLimit, now);
    return isResetDue(existing, now) ? this.get(attribution.text) : existing;
  }

  /** Stores a new version (once per idempotency key: a replay returns the version the first call stored). */
  async set(
    request: {
      attributionId: string;
      spendingLimitCredits: number;
      billingStrategy: BillingStrategy;
    },
    idempotency?: IdempotencyClaim,
  ): Promise<StoredCostCenter> {
    const attribution = parseAttributionId(request.attributionId, "cost_center.attribution_id");
    const spendingLimitCredits = validateSpendingLimit(request.spendingLimitCredits, "cost_center.spending_limit");
    if (request.billingStrategy === "stripe" && !this.deps.stripeEnabled) {
      throw failedPrecondition(
        "billing is not configured: a cost center billed by Stripe would never be invoiced or reset; set STRIPE_SECRET_KEY first. " +
          "Note that STRIPE is the contract's zero value: an omitted billingStrategy means STRIPE. " +
          'For a cost center Tally does not bill, send billingStrategy "BILLING_STRATEGY_OTHER" (1)',
      );
    }
    const now = this.deps.clock.now();
    const prepared = (await getCurrentCostCenter(this.deps.db, attribution.text)) ? undefined : await this.prepareNew(attribution);
    const stored = await idempotentTransaction(this.deps.db, idempotency, now, async (tx) => {
      let balanceCents = await lockAttribution(tx, attribution.text, now);
      let current = await this.currentOrCreate(tx, attribution, now, { prepared });
      // An expired OTHER cycle is reset first, with the old limit (as GetCostCenter would); the
      // change then applies to the new cycle, which the response carries.
      const reset = await this.resetLocked(tx, current, balanceCents, now);
      if (reset) {
        current = reset;
        balanceCents = await lockAttribution(tx, attribution.text, now);
      }
      const change = planCostCenterChange({
        current,
        requested: { spendingLimitCredits, billingStrategy: request.billingStrategy },
        lastOtherSpendingLimitCredits: await lastOtherSpendingLimit(tx, attribution.text),
        defaultSpendingLimitCredits: defaultSpendingLimitFor(attribution, this.deps.defaultSpendingLimit),
        balanceCents,
        now,
      });
      const version = current.version + 1;
      const events: NewAccountEvent[] = [];
      if (change.invoice) {
        const description = "Balanced out on switch to Stripe billing";
        const key = sourceKeys.strategySwitch(attribution.text, version);
        const booked = await this.bookInvoice(tx, attribution.text, key, change.invoice, description, now);
        if (booked) events.push(invoiceBooked(booked, "strategy_switch"));
      }
      const next = await insertCostCenterVersion(tx, change.next, version, now);
      events.push(costCenterChanged(current, next));
      await this.deps.events?.record(tx, { events, limitsOf: [attribution.text], cause: "cost_center" }, now);
      return next;
    });
    this.deps.events?.committed();
    return stored;
  }

  /** Resets every due OTHER cost center. One failure does not stop the others. */
  async resetAllDue(): Promise<ResetOutcome> {
    let reset = 0;
    const failed: Array<{ attributionId: string; error: unknown }> = [];
    let afterId = "";
    for (;;) {
      const now = this.deps.clock.now();
      const due = await listCurrentAttributionIds(this.deps.db, { strategy: "other", dueBy: now, afterId, limit: resetBatchSizeMax });
      for (const attributionId of due) {
        try {
          if (await this.resetOne(attributionId)) reset += 1;
        } catch (error) {
          failed.push({ attributionId, error });
        }
      }
      if (due.length < resetBatchSizeMax) return { reset, failed };
      afterId = due[due.length - 1]!;
    }
  }

  /** Resets one cost center if due; false if there was nothing to do (e.g. another replica did it). */
  async resetOne(attributionId: string): Promise<boolean> {
    const now = this.deps.clock.now();
    const reset = await inTransaction(this.deps.db, async (tx) => {
      const balanceCents = await lockAttribution(tx, attributionId, now);
      const current = await getCurrentCostCenter(tx, attributionId);
      if (!current) return false;
      return (await this.resetLocked(tx, current, balanceCents, now)) !== undefined;
    });
    this.deps.events?.committed();
    return reset;
  }

  private async resetLocked(
    tx: Transaction,
    current: StoredCostCenter,
    balanceCents: bigint,
    now: Date,
  ): Promise<StoredCostCenter | undefined> {
    const change = planReset(current, balanceCents, now);
    if (!change) return undefined;
    const events: NewAccountEvent[] = [];
    if (change.invoice) {
      const key = sourceKeys.cycleReset(current.attributionId, change.next.billingCycleStart);
      const booked = await this.bookInvoice(tx, current.attributionId, key, change.invoice, "Balanced out at the end of the billing cycle", now);
      if (booked) events.push(invoiceBooked(booked, "cycle_reset"));
    }
    const next = await insertCostCenterVersion(tx, change.next, current.version + 1, now);
    events.push(costCenterChanged(current, next));
    await this.deps.events?.record(tx, { events, limitsOf: [current.attributionId], cause: "reset" }, now);
    return next;
  }

  /** Gitpod mode, a team never seen: what the free-credit rule needs from outside the transaction. */
  private async prepareNew(attribution: AttributionId): Promise<Prepared> {
    const policy = this.deps.newTeamLimit;
    if (!policy || attribution.kind !== "team") return undefined;
    return { value: await policy.prepare(attribution.uuid) };
  }

  private async currentOrCreate(
    tx: Transaction,
    attribution: AttributionId,
    now: Date,
    options: { onCreated?: OnCostCenterCreated | undefined; prepared?: Prepared } = {},
  ): Promise<StoredCostCenter> {
    const current = await getCurrentCostCenter(tx, attribution.text);
    if (current) return current;
    let initial = initialCostCenter(attribution, this.deps.defaultSpendingLimit, now);
    const policy = this.deps.newTeamLimit;
    if (policy && attribution.kind === "team") {
      // Not prepared when the unlocked read saw a cost center that this transaction does not (rare):
      // look it up now, in the transaction (bounded by Gitpod's query timeout).
      const value = options.prepared ? options.prepared.value : await policy.prepare(attribution.uuid);
      initial = { ...initial, spendingLimitCredits: await policy.limitFor(tx, attribution.uuid, value, now) };
    }
    const created = await insertCostCenterVersion(tx, initial, 1, now);
    await options.onCreated?.(tx, created, now);
    return created;
  }

  private async bookInvoice(
    tx: Transaction,
    attributionId: string,
    sourceKey: string,
    invoice: BalancingInvoice,
    description: string,
    now: Date,
  ): Promise<LedgerEntry | undefined> {
    const entry: LedgerEntry = {
      id: randomUUID(),
      attributionId,
      sourceKey,
      kind: "invoice",
      description,
      creditCents: invoice.creditCents,
      effectiveTime: invoice.effectiveTime,
      workspaceInstanceId: null,
      draft: false,
      metadata: {},
    };
    const inserted = await insertEntries(tx, [entry], now);
    return inserted.has(sourceKey) ? entry : undefined;
  }
}
