// Books workspace-instance usage straight into the ledger (as the reconciler would), for tests of
// everything downstream of ingestion.
import { randomUUID } from "node:crypto";
import type { LedgerEntry } from "../../src/domain/ledger-entry.js";
import { sourceKeys } from "../../src/domain/ledger-entry.js";
import { lockAttribution } from "../../src/store/balances.js";
import type { Database } from "../../src/store/database.js";
import { insertEntries } from "../../src/store/ledger.js";
import { inTransaction } from "../../src/store/transactions.js";

export interface UsageFixture {
  readonly attributionId: string;
  readonly creditCents: bigint;
  readonly effectiveTime: Date;
  readonly userId?: string;
  readonly draft?: boolean;
  /** Recorded in the metadata as `workspaceClass`; default "g1-standard". */
  readonly workspaceClass?: string;
}

export async function bookInstanceUsage(db: Database, fixtures: readonly UsageFixture[]): Promise<LedgerEntry[]> {
  const entries = fixtures.map((fixture): LedgerEntry => {
    const instanceId = randomUUID();
    return {
      id: randomUUID(),
      attributionId: fixture.attributionId,
      sourceKey: sourceKeys.workspaceInstance(instanceId),
      kind: "workspaceinstance",
      description: "Usage of test instance",
      creditCents: fixture.creditCents,
      effectiveTime: fixture.effectiveTime,
      workspaceInstanceId: instanceId,
      draft: fixture.draft ?? false,
      metadata: {
        ...(fixture.userId ? { userId: fixture.userId } : {}),
        workspaceClass: fixture.workspaceClass ?? "g1-standard",
      },
    };
  });
  await inTransaction(db, async (tx) => {
    const now = new Date();
    for (const id of [...new Set(entries.map((e) => e.attributionId))].sort()) await lockAttribution(tx, id, now);
    await insertEntries(tx, entries, now);
  });
  return entries;
}

export const teamId = () => `team:${randomUUID()}`;
export const userId = () => `user:${randomUUID()}`;
