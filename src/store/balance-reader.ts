// Reads balances for GetBalance and GetAccountStatus, the platform's hot path: every lookup that
// arrives while one query is in flight joins the next query, one `= ANY($1)` round trip for all
// of them. Under load that turns N round trips into a few; alone, a lookup waits for nothing.
// Every answer is a committed balance read after the request arrived, as a single query's is.
import { inArray } from "drizzle-orm";
import type { Database } from "./database.js";
import { balances } from "./schema.js";

/** Distinct attribution ids per query; more wait for the next one. */
export const balanceBatchSizeMax = 500;

interface Waiter {
  readonly resolve: (cents: bigint) => void;
  readonly reject: (error: unknown) => void;
}

export class BalanceReader {
  private waiting = new Map<string, Waiter[]>();
  private inFlight = false;
  private scheduled = false;

  constructor(private readonly db: Database) {}

  /** The balance in credit cents; 0 for an attribution id never seen. */
  balanceCents(attributionId: string): Promise<bigint> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(attributionId);
      if (waiters) waiters.push({ resolve, reject });
      else this.waiting.set(attributionId, [{ resolve, reject }]);
      if (!this.inFlight && !this.scheduled) {
        // Run after the requests that arrived with this one are parsed (setImmediate comes after
        // the I/O callbacks of this turn), so they share the query even on PGlite, whose queries
        // keep the event loop busy and would otherwise leave every batch at one lookup.
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.flush();
        });
      }
    });
  }

  private async flush(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.waiting.size > 0) {
        const batch = new Map<string, Waiter[]>();
        for (const [id, waiters] of this.waiting) {
          if (batch.size === balanceBatchSizeMax) break;
          batch.set(id, waiters);
        }
        for (const id of batch.keys()) this.waiting.delete(id);
        try {
          const rows = await this.db
            .select({ attributionId: balances.attributionId, balanceCents: balances.balanceCents })
            .from(balances)
            .where(inArray(balances.attributionId, [...batch.keys()]));
          const found = new Map(rows.map((row) => [row.attributionId, row.balanceCents]));
          for (const [id, waiters] of batch) for (const waiter of waiters) waiter.resolve(found.get(id) ?? 0n);
        } catch (error) {
          for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
        }
      }
    } finally {
      this.inFlight = false;
    }
  }
}
