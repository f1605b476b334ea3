// Account status and blocking: whether an attribution id is blocked (e.g. after a charge dispute),
// and how close it is to its spending limit. The platform asks before starting a workspace.
import { parseAttributionId } from "../domain/attribution-id.js";
import type { Clock } from "../domain/clock.js";
import { attributionBlocked, attributionUnblocked } from "../domain/account-event.js";
import type { EventRecorder } from "../events/event-recorder.js";
import { lockAttribution } from "../store/balances.js";
import { inTransaction } from "../store/transactions.js";
import { requireText, spendingLimitState } from "../domain/stripe-billing.js";
import type { BalanceReader } from "../store/balance-reader.js";
import { insertBlock, listActiveBlocks, listBlockHistory, unblockAll, type Block } from "../store/blocked-attributions.js";
import type { Database } from "../store/database.js";
import { getStripeCustomerByAttributionId } from "../store/stripe-customers.js";
import type { CostCenterService } from "./cost-center-service.js";
import type { IdempotencyClaim } from "../domain/idempotency-key.js";
import { idempotentTransaction } from "./idempotency.js";

export const blockReasonLengthMax = 1000;

export interface AccountStatus {
  readonly attributionId: string;
  readonly blocked: boolean;
  /** The newest active block. */
  readonly block: Block | undefined;
  readonly balanceCents: bigint;
  readonly spendingLimitCredits: number;
  readonly limitReached: boolean;
  readonly almostReached: boolean;
  /** The live Stripe subscription on a usage price without a billing meter (unbilled until `tally stripe migrate-prices`). */
  readonly legacyPrice: { readonly subscriptionId: string; readonly usagePriceId: string } | undefined;
}

export interface AccountServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly costCenters: CostCenterService;
  /** The same reader GetBalance uses, so status and balance lookups batch together. */
  readonly balances: BalanceReader;
  /** attribution.blocked and attribution.unblocked go to the outbox in the transaction of the change. */
  readonly events?: EventRecorder;
  /** almost_reached is above this % of the spending limit (limitWarningPercent, default 80). */
  readonly limitWarningPercent?: number;
  /** Stripe billing is on: the status reports a subscription on a legacy usage price. */
  readonly stripeBilling?: boolean;
}

export class AccountService {
  constructor(private readonly deps: AccountServiceDeps) {}

  async status(attributionIdText: string): Promise<AccountStatus> {
    const attribution = parseAttributionId(attributionIdText);
    // The cost center first: resetting an expired cycle may change the balance. An id never seen
    // gets its defaults without anything being stored: asking must not create.
    const costCenter = await this.deps.costCenters.currentOrDefault(attribution.text);
    const [balanceCents, blocks, stripeCustomer] = await Promise.all([
      this.deps.balances.balanceCents(attribution.text),
      listActiveBlocks(this.deps.db, attribution.text),
      // The legacy-price flag is on the customer row (one index lookup, only with Stripe billing).
      this.deps.stripeBilling ? getStripeCustomerByAttributionId(this.deps.db, attribution.text) : undefined,
    ]);
    return {
      attributionId: attribution.text,
      blocked: blocks.length > 0,
      block: blocks[0],
      balanceCents,
      spendingLimitCredits: costCenter.spendingLimitCredits,
      ...spendingLimitState(balanceCents, costCenter.spendingLimitCredits, this.deps.limitWarningPercent),
      legacyPrice: stripeCustomer?.legacySubscriptionId
        ? { subscriptionId: stripeCustomer.legacySubscriptionId, usagePriceId: stripeCustomer.legacyUsagePriceId ?? "" }
        : undefined,
    };
  }

  /**
   * Blocks the attribution id. `source` names what blocked it (e.g. "stripe-dispute:dp_123"); a source
   * blocks at most once, so replays change nothing. Returns true when a new block was recorded.
   */
  async block(request: { attributionId: string; reason: string; source: string }): Promise<boolean> {
    const attribution = parseAttributionId(request.attributionId);
    const reason = requireText(request.reason, "reason", blockReasonLengthMax);
    const source = requireText(request.source, "source", blockReasonLengthMax);
    const now = this.deps.clock.now();
    const block = { attributionId: attribution.text, reason, source };
    const blocked = await inTransaction(this.deps.db, async (tx) => {
      // The attribution's lock orders its events with those of its ledger and cost center.
      await lockAttribution(tx, attribution.text, now);
      const inserted = await insertBlock(tx, block, now);
      if (inserted) await this.deps.events?.record(tx, { events: [attributionBlocked({ ...block, blockedAt: now })] }, now);
      return inserted;
    });
    this.deps.events?.committed();
    return blocked;
  }

  /** An operator lifts every active block, with a reason. Returns how many were lifted (once per idempotency key). */
  async unblock(request: { attributionId: string; reason: string }, idempotency?: IdempotencyClaim): Promise<number> {
    const attribution = parseAttributionId(request.attributionId);
    const reason = requireText(request.reason, "reason", blockReasonLengthMax);
    const now = this.deps.clock.now();
    const lifted = await idempotentTransaction(this.deps.db, idempotency, now, async (tx) => {
      // Nothing to lift: no lock, and no balance row for an id never seen (the key is still recorded).
      if ((await listActiveBlocks(tx, attribution.text)).length === 0) return 0;
      await lockAttribution(tx, attribution.text, now);
      const blocksLifted = await unblockAll(tx, attribution.text, reason, now);
      if (blocksLifted > 0) {
        const event = attributionUnblocked({ attributionId: attribution.text, reason, unblockedAt: now, blocksLifted });
        await this.deps.events?.record(tx, { events: [event] }, now);
      }
      return blocksLifted;
    });
    this.deps.events?.committed();
    return lifted;
  }

  /** Every block ever recorded, newest first (for the CLI and dashboard). */
  async blockHistory(attributionIdText: string): Promise<Block[]> {
    return listBlockHistory(this.deps.db, parseAttributionId(attributionIdText).text);
  }
}
