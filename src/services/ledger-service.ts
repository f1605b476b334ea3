// The ledger as operators and the platform see it: balances, credit notes, usage listings.
import { randomUUID } from "node:crypto";
import { parseAttributionId, parseOptionalUserId } from "../domain/attribution-id.js";
import type { Clock } from "../domain/clock.js";
import { creditNoteAdded } from "../domain/account-event.js";
import type { EventRecorder } from "../events/event-recorder.js";
import { creditsToCentsExact } from "../domain/credit-cents.js";
import { parseCreditNoteDescription, validateCreditNoteCredits } from "../domain/credit-note.js";
import { sourceKeys, type LedgerEntry } from "../domain/ledger-entry.js";
import { parseUsageQuery, type UsageQueryInput, type UsageQuery } from "../domain/usage-query.js";
import { lockAttribution } from "../store/balances.js";
import type { BalanceReader } from "../store/balance-reader.js";
import type { Database } from "../store/database.js";
import { insertEntries, listUsage, type UsagePage } from "../store/ledger.js";
import type { IdempotencyClaim } from "../domain/idempotency-key.js";
import { idempotentTransaction } from "./idempotency.js";

export interface LedgerServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
  /** Shared by every reader of balances, so their lookups batch together. */
  readonly balances: BalanceReader;
  /** credit_note.added and the limit crossing it causes go to the outbox in its transaction. */
  readonly events?: EventRecorder;
}

export class LedgerService {
  constructor(private readonly deps: LedgerServiceDeps) {}

  async balanceCents(attributionIdText: string): Promise<bigint> {
    const attribution = parseAttributionId(attributionIdText);
    return this.deps.balances.balanceCents(attribution.text);
  }

  /** Books a final credit note of `-credits`, once per idempotency key; returns the entry (the first one, on a replay). */
  async addCreditNote(
    request: {
      attributionId: string;
      credits: number;
      description: string;
      userId: string;
    },
    idempotency?: IdempotencyClaim,
  ): Promise<LedgerEntry> {
    const attribution = parseAttributionId(request.attributionId);
    const description = parseCreditNoteDescription(request.description);
    const userId = parseOptionalUserId(request.userId);
    const credits = validateCreditNoteCredits(request.credits);
    const now = this.deps.clock.now();
    const id = randomUUID();
    const entry: LedgerEntry = {
      id,
      attributionId: attribution.text,
      sourceKey: sourceKeys.creditNote(id),
      kind: "creditnote",
      description,
      creditCents: -creditsToCentsExact(credits),
      effectiveTime: now,
      workspaceInstanceId: null,
      draft: false,
      metadata: userId === undefined ? {} : { userId },
    };
    const booked = await idempotentTransaction(this.deps.db, idempotency, now, async (tx) => {
      await lockAttribution(tx, attribution.text, now);
      await insertEntries(tx, [entry], now);
      await this.deps.events?.record(tx, { events: [creditNoteAdded(entry)], limitsOf: [entry.attributionId], cause: "credit_note" }, now);
      return entry;
    });
    this.deps.events?.committed();
    return booked;
  }

  async listUsage(input: UsageQueryInput): Promise<{ query: UsageQuery; page: UsagePage }> {
    const query = parseUsageQuery(input, this.deps.clock.now());
    return { query, page: await listUsage(this.deps.db, query) };
  }
}
