// The ledger as operators and the platform see it: balances, credit notes, usage listings.
import { randomUUID } from "node:crypto";
import { parseAttributionId, parseOptionalUserId } from "../domain/attribution-id.js";
import type { Clock } from "../domain/clock.js";
import { creditsToCentsExact } from "../domain/credit-cents.js";
import { sourceKeys, type LedgerEntry } from "../domain/ledger-entry.js";
import { invalidArgument } from "../domain/tally-error.js";
import { parseUsageQuery, type UsageQueryInput, type UsageQuery } from "../domain/usage-query.js";
import { lockAttribution } from "../store/balances.js";
import { BalanceReader } from "../store/balance-reader.js";
import type { Database } from "../store/database.js";
import { insertEntries, listUsage, type UsagePage } from "../store/ledger.js";
import { inTransaction } from "../store/transactions.js";

export const descriptionLengthMax = 1000;
/** A single credit note is capped; larger corrections are several notes, each with its reason. */
export const creditNoteCreditsMax = 100_000_000;

export interface LedgerServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
}

export class LedgerService {
  private readonly balances: BalanceReader;

  constructor(private readonly deps: LedgerServiceDeps) {
    this.balances = new BalanceReader(deps.db);
  }

  async balanceCents(attributionIdText: string): Promise<bigint> {
    const attribution = parseAttributionId(attributionIdText);
    return this.balances.balanceCents(attribution.text);
  }

  /** Books a final credit note of `-credits`; returns the entry. */
  async addCreditNote(request: {
    attributionId: string;
    credits: number;
    description: string;
    userId: string;
  }): Promise<LedgerEntry> {
    const attribution = parseAttributionId(request.attributionId);
    const description = request.description.trim();
    if (description === "") throw invalidArgument("description is required (the reason for the credit note)");
    if (description.length > descriptionLengthMax) {
      throw invalidArgument(`description is ${description.length} characters long, at most ${descriptionLengthMax} allowed`);
    }
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(description)) {
      throw invalidArgument("description must not contain control characters");
    }
    const userId = parseOptionalUserId(request.userId);
    if (!Number.isInteger(request.credits) || request.credits <= 0) {
      throw invalidArgument(`credits ${request.credits} must be a whole number above 0`);
    }
    if (request.credits > creditNoteCreditsMax) {
      throw invalidArgument(`credits ${request.credits} must be at most ${creditNoteCreditsMax}`);
    }
    const now = this.deps.clock.now();
    const id = randomUUID();
    const entry: LedgerEntry = {
      id,
      attributionId: attribution.text,
      sourceKey: sourceKeys.creditNote(id),
      kind: "creditnote",
      description,
      creditCents: -creditsToCentsExact(request.credits),
      effectiveTime: now,
      workspaceInstanceId: null,
      draft: false,
      metadata: userId === undefined ? {} : { userId },
    };
    await inTransaction(this.deps.db, async (tx) => {
      await lockAttribution(tx, attribution.text, now);
      await insertEntries(tx, [entry], now);
    });
    return entry;
  }

  async listUsage(input: UsageQueryInput): Promise<{ query: UsageQuery; page: UsagePage }> {
    const query = parseUsageQuery(input, this.deps.clock.now());
    return { query, page: await listUsage(this.deps.db, query) };
  }
}
