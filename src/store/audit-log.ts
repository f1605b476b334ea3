// The audit log: appending rows and reading them newest first, by keyset (id) pages.
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import type { Database } from "./database.js";
import { auditLog } from "./schema.js";

export interface AuditEntryInput {
  readonly time: Date;
  readonly actor: string;
  readonly procedure: string;
  readonly attributionId: string | undefined;
  readonly details: Record<string, unknown>;
  readonly outcome: string;
  readonly errorMessage: string | undefined;
  readonly requestId: string | undefined;
}

export interface AuditEntry extends AuditEntryInput {
  readonly id: bigint;
}

export async function insertAuditEntry(db: Database, entry: AuditEntryInput): Promise<bigint> {
  const [row] = await db
    .insert(auditLog)
    .values({
      ...entry,
      attributionId: entry.attributionId ?? null,
      errorMessage: entry.errorMessage ?? null,
      requestId: entry.requestId ?? null,
    })
    .returning({ id: auditLog.id });
  return row!.id;
}

export interface AuditQuery {
  /** Only rows about this attribution id. */
  readonly attributionId: string | undefined;
  /** Only rows older than this id (the previous page's last id). */
  readonly beforeId: bigint | undefined;
  readonly limit: number;
}

/** Newest first. */
export async function listAuditEntries(db: Database, query: AuditQuery): Promise<AuditEntry[]> {
  const conditions: SQL[] = [];
  if (query.attributionId !== undefined) conditions.push(eq(auditLog.attributionId, query.attributionId));
  if (query.beforeId !== undefined) conditions.push(lt(auditLog.id, query.beforeId));
  const rows = await db
    .select()
    .from(auditLog)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(auditLog.id))
    .limit(query.limit);
  return rows.map((row) => ({
    id: row.id,
    time: row.time,
    actor: row.actor,
    procedure: row.procedure,
    attributionId: row.attributionId ?? undefined,
    details: row.details,
    outcome: row.outcome,
    errorMessage: row.errorMessage ?? undefined,
    requestId: row.requestId ?? undefined,
  }));
}
