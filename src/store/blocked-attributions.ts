// Blocks of attribution ids: active until unblocked; one per source (e.g. one per dispute).
import { randomUUID } from "node:crypto";
import { and, desc, eq, isNull } from "drizzle-orm";
import type { Database } from "./database.js";
import { blockedAttributions } from "./schema.js";

export interface Block {
  readonly id: string;
  readonly attributionId: string;
  readonly reason: string;
  readonly source: string;
  readonly blockedAt: Date;
  readonly unblockedAt: Date | null;
  readonly unblockReason: string | null;
}

/** Records a block unless its source already blocked once; true when a new block was recorded. */
export async function insertBlock(
  db: Database,
  block: { attributionId: string; reason: string; source: string },
  now: Date,
): Promise<boolean> {
  const inserted = await db
    .insert(blockedAttributions)
    .values({ id: randomUUID(), ...block, blockedAt: now, unblockedAt: null, unblockReason: null })
    .onConflictDoNothing({ target: blockedAttributions.source })
    .returning({ id: blockedAttributions.id });
  return inserted.length > 0;
}

/** Active blocks, newest first. */
export async function listActiveBlocks(db: Database, attributionId: string): Promise<Block[]> {
  return db
    .select()
    .from(blockedAttributions)
    .where(and(eq(blockedAttributions.attributionId, attributionId), isNull(blockedAttributions.unblockedAt)))
    .orderBy(desc(blockedAttributions.blockedAt), desc(blockedAttributions.id));
}

/** Every block ever recorded for the attribution id, newest first (for operators). */
export async function listBlockHistory(db: Database, attributionId: string): Promise<Block[]> {
  return db
    .select()
    .from(blockedAttributions)
    .where(eq(blockedAttributions.attributionId, attributionId))
    .orderBy(desc(blockedAttributions.blockedAt), desc(blockedAttributions.id));
}

/** Lifts every active block of the attribution id; returns how many. */
export async function unblockAll(db: Database, attributionId: string, reason: string, now: Date): Promise<number> {
  const rows = await db
    .update(blockedAttributions)
    .set({ unblockedAt: now, unblockReason: reason })
    .where(and(eq(blockedAttributions.attributionId, attributionId), isNull(blockedAttributions.unblockedAt)))
    .returning({ id: blockedAttributions.id });
  return rows.length;
}
