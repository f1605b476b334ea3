// The database schema, one typed source for both PostgreSQL and PGlite. Migrations are generated
// from it by drizzle-kit into ./migrations and applied at start.
//
// Every hot table carries attribution_id so that it can be the distribution key on a distributed
// Postgres; credits are integer credit cents (bigint).
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: "date", precision: 3 });

/** Versioned cost centers: every change inserts a new version; the highest version is current. */
export const costCenters = pgTable(
  "cost_centers",
  {
    attributionId: text("attribution_id").notNull(),
    version: integer("version").notNull(),
    spendingLimitCredits: integer("spending_limit_credits").notNull(),
    billingStrategy: text("billing_strategy", { enum: ["stripe", "other"] }).notNull(),
    billingCycleStart: timestamptz("billing_cycle_start").notNull(),
    nextBillingTime: timestamptz("next_billing_time").notNull(),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.attributionId, t.version] }),
    index("cost_centers_due_idx").on(t.billingStrategy, t.nextBillingTime),
    check("cost_centers_limit_check", sql`${t.spendingLimitCredits} >= 0`),
    check("cost_centers_cycle_check", sql`${t.nextBillingTime} > ${t.billingCycleStart}`),
  ],
);

/**
 * One row per attribution id: its balance (the sum of its ledger), changed in the same transaction
 * as every ledger entry. Mutations lock this row, so it also serialises work on one attribution id.
 */
export const balances = pgTable("balances", {
  attributionId: text("attribution_id").primaryKey(),
  balanceCents: bigint("balance_cents", { mode: "bigint" }).notNull().default(sql`0`),
  updatedAt: timestamptz("updated_at").notNull(),
});

/** The ledger. Entries are immutable except drafts, which grow until final. */
export const usage = pgTable(
  "usage",
  {
    id: uuid("id").primaryKey(),
    attributionId: text("attribution_id").notNull(),
    /** Deterministic key from the entry's source (instance id, invoice id, ...): one entry per source. */
    sourceKey: text("source_key").notNull(),
    kind: text("kind", { enum: ["workspaceinstance", "invoice", "creditnote"] }).notNull(),
    description: text("description").notNull(),
    creditCents: bigint("credit_cents", { mode: "bigint" }).notNull(),
    effectiveTime: timestamptz("effective_time").notNull(),
    workspaceInstanceId: uuid("workspace_instance_id"),
    draft: boolean("draft").notNull(),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("usage_source_key_idx").on(t.sourceKey),
    index("usage_instance_time_idx")
      .on(t.attributionId, t.effectiveTime)
      .where(sql`${t.kind} = 'workspaceinstance'`),
    index("usage_drafts_idx").on(t.workspaceInstanceId).where(sql`${t.draft}`),
    check("usage_draft_kind_check", sql`NOT ${t.draft} OR ${t.kind} = 'workspaceinstance'`),
  ],
);

// --- audit ---

/**
 * One row per mutating RPC call (and per refused attempt by a known caller): who, what, on which
 * attribution id, with which request (secrets redacted) and how it ended. Append-only.
 */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    time: timestamptz("time").notNull(),
    /** The API token's name, or "anonymous" when access control is off. */
    actor: text("actor").notNull(),
    /** "package.Service/Method". */
    procedure: text("procedure").notNull(),
    attributionId: text("attribution_id"),
    details: jsonb("details").$type<Record<string, unknown>>().notNull(),
    /** "OK" or the gRPC code name the call ended with. */
    outcome: text("outcome").notNull(),
    errorMessage: text("error_message"),
    requestId: text("request_id"),
  },
  (t) => [index("audit_log_attribution_idx").on(t.attributionId, t.id)],
);
