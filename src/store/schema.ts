// The database schema, one typed source for both PostgreSQL and PGlite. Migrations are generated
// from it by drizzle-kit into ./migrations and applied at start.
//
// Every hot table carries attribution_id so that it can be the distribution key on a distributed
// Postgres; credits are integer credit cents (bigint).
import { sql, type SQL, type SQLWrapper } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  date,
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

/**
 * The key of usage_instance_user_listing_idx: a 64-bit hash of an attribution id and a user id. The
 * index and every query on it must spell it the same way (the planner matches the expression).
 */
export function userListingKey(attributionId: SQLWrapper, userId: SQLWrapper): SQL {
  return sql`hashtextextended(${attributionId} || '/' || ${userId}, 0)`;
}

/**
 * The first key of usage_instance_user_listing_idx: the UTC month of an entry's effective time (a
 * timestamp without time zone, its first instant). Spelled the same way by the index and its queries.
 */
export function listingMonth(effectiveTime: SQLWrapper): SQL {
  return sql`date_trunc('month', ${effectiveTime} AT TIME ZONE 'UTC')`;
}

/**
 * A workspace instance's own entry, keyed "instance:<its id>" (sourceKeys.workspaceInstance): unique
 * by usage_instance_key_idx. Queries that look such an entry up name this predicate (the planner
 * matches it to the partial index) and the instance id.
 */
export function instanceKeyed(t: { kind: SQLWrapper; sourceKey: SQLWrapper; workspaceInstanceId: SQLWrapper }): SQL {
  // Never NULL (no entry falls out of both indexes): the id is tested first.
  return sql`${t.kind} = 'workspaceinstance' AND ${t.workspaceInstanceId} IS NOT NULL AND ${t.sourceKey} = 'instance:' || ${t.workspaceInstanceId}::text`;
}

/** instanceKeyed on the usage columns of `alias` (or unqualified, as ON CONFLICT names them). */
export function instanceKeyedIn(alias?: string): SQL {
  const column = (name: string) => sql.raw(alias ? `${alias}.${name}` : name);
  return instanceKeyed({ kind: column("kind"), sourceKey: column("source_key"), workspaceInstanceId: column("workspace_instance_id") });
}

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
    // One entry per source. A workspace instance's entry (source key "instance:<id>", the id also in
    // workspace_instance_id) is unique by its 16-byte id: reconcile probes and writes this index at a
    // random place per instance, and keyed by the 45 characters of text it was twice the size (at 1M
    // instances it no longer fitted in shared buffers beside the listing indexes). Every other entry
    // is unique by its source key; the check keeps "instance:" keys to the first kind, so the two
    // together keep every source key unique.
    uniqueIndex("usage_instance_key_idx").on(t.workspaceInstanceId).where(instanceKeyed(t)),
    uniqueIndex("usage_source_key_idx").on(t.sourceKey).where(sql`NOT (${instanceKeyed(t)})`),
    check("usage_instance_key_check", sql`NOT starts_with(${t.sourceKey}, 'instance:') OR (${instanceKeyed(t)})`),
    // ListUsage pages, daily usage edges: walked in (effective time, id) order, so no sort and no
    // OFFSET beyond one day's entries (the day comes from usage_daily_totals).
    index("usage_instance_listing_idx")
      .on(t.attributionId, t.effectiveTime, t.id)
      .where(sql`${t.kind} = 'workspaceinstance'`),
    // The same, filtered by user id (ListUsage user_id, daily usage user_id), with no OFFSET beyond
    // one month of the user's entries (usage_user_monthly_totals). Keyed by UTC month first
    // (listingMonth), then a 64-bit hash of the attribution id and user id (userListingKey) instead
    // of their 78 characters of text, then time: a query reads one month of one user in time order,
    // and a longer range a month at a time. Month first, because reconcile writes this index at one
    // place per team and user: keyed by user first, those places spread over the whole index, which
    // at a million entries no longer stayed in shared buffers; keyed by month, they lie in the
    // current month's part, whose size is set by a month's entries, not by the history. A query
    // names the keys and the ids themselves, so a collision costs a filtered row, never a wrong
    // answer. Only entries with a user id: a query without the filter cannot prove that, so it is
    // never planned on this index (without statistics the planner otherwise took it for unfiltered
    // ranges, reading the attribution id's whole history).
    index("usage_instance_user_listing_idx")
      .on(listingMonth(t.effectiveTime), userListingKey(t.attributionId, sql`(${t.metadata} ->> 'userId')`), t.effectiveTime, t.id)
      .where(sql`${t.kind} = 'workspaceinstance' AND (${t.metadata} ->> 'userId') IS NOT NULL`),
    index("usage_drafts_idx").on(t.workspaceInstanceId).where(sql`${t.draft}`),
    // Dashboard and CLI: an attribution id's credit notes and invoices without scanning its usage.
    index("usage_payments_idx")
      .on(t.attributionId, t.effectiveTime, t.id)
      .where(sql`${t.kind} <> 'workspaceinstance'`),
    check("usage_draft_kind_check", sql`NOT ${t.draft} OR ${t.kind} = 'workspaceinstance'`),
  ],
);

/**
 * Workspace-instance usage per attribution id, UTC day and workspace class, for all users (see
 * domain/ledger-totals.ts), changed in the same transaction as every ledger write, like the balance.
 * Rows may fall to 0 entries.
 */
export const usageDailyTotals = pgTable(
  "usage_daily_totals",
  {
    attributionId: text("attribution_id").notNull(),
    day: date("day", { mode: "string" }).notNull(),
    workspaceClass: text("workspace_class").notNull(),
    entries: bigint("entries", { mode: "bigint" }).notNull(),
    creditCents: bigint("credit_cents", { mode: "bigint" }).notNull(),
  },
  (t) => [primaryKey({ name: "usage_daily_totals_pkey", columns: [t.attributionId, t.day, t.workspaceClass] })],
);

/**
 * Workspace-instance usage per attribution id, metadata user id and UTC month (`month` is its first
 * day), for ListUsage and the daily usage report filtered by user; kept like usage_daily_totals.
 */
export const usageUserMonthlyTotals = pgTable(
  "usage_user_monthly_totals",
  {
    attributionId: text("attribution_id").notNull(),
    userId: text("user_id").notNull(),
    month: date("month", { mode: "string" }).notNull(),
    entries: bigint("entries", { mode: "bigint" }).notNull(),
    creditCents: bigint("credit_cents", { mode: "bigint" }).notNull(),
  },
  (t) => [primaryKey({ name: "usage_user_monthly_totals_pkey", columns: [t.attributionId, t.userId, t.month] })],
);

// --- Workspace instances and scheduled jobs (issue 3: ingestion, ReconcileUsage, jobs) ---

/**
 * Workspace instances as the platform reports them (WorkspaceInstanceService, `tally instances
 * import`): the source of workspace-instance usage. A field a report leaves empty keeps its value.
 */
export const workspaceInstances = pgTable(
  "workspace_instances",
  {
    id: uuid("id").primaryKey(),
    /** Who pays; null until reported (such instances are not booked). */
    attributionId: text("attribution_id"),
    workspaceId: text("workspace_id").notNull(),
    userId: uuid("user_id"),
    workspaceClass: text("workspace_class").notNull().default(""),
    workspaceType: text("workspace_type", { enum: ["regular", "prebuild"] }),
    creationTime: timestamptz("creation_time"),
    startedTime: timestamptz("started_time"),
    stoppingTime: timestamptz("stopping_time"),
    stoppedTime: timestamptz("stopped_time"),
    projectId: text("project_id").notNull().default(""),
    contextUrl: text("context_url").notNull().default(""),
    userName: text("user_name").notNull().default(""),
    userAvatarUrl: text("user_avatar_url").notNull().default(""),
    /** When the last report arrived: lets the ledger book stops that were reported late. */
    reportedAt: timestamptz("reported_at").notNull(),
  },
  (t) => [
    // ReconcileUsage (a): instances that stopped in [from, to), paged by (stop time, id).
    index("workspace_instances_stop_idx").on(sql`coalesce(${t.stoppingTime}, ${t.stoppedTime})`, t.id),
    // ReconcileUsage (b): running instances, paged by id.
    index("workspace_instances_running_idx")
      .on(t.id)
      .where(sql`${t.stoppingTime} IS NULL AND ${t.stoppedTime} IS NULL`),
    // ReconcileUsage (d): stopped instances reported in [from, to), paged by (reported_at, id).
    index("workspace_instances_reported_idx").on(t.reportedAt, t.id),
  ],
);

/** One row per scheduled job: its last run, across all replicas (the ledger window starts here). */
export const jobRuns = pgTable("job_runs", {
  job: text("job").primaryKey(),
  /** Clock time at which the last successful run started: the end of the window it covered. */
  lastSuccessAt: timestamptz("last_success_at"),
  /** Duration of the last successful run. */
  lastDurationMs: integer("last_duration_ms"),
  lastStartedAt: timestamptz("last_started_at"),
  lastFinishedAt: timestamptz("last_finished_at"),
  lastFailureAt: timestamptz("last_failure_at"),
  lastError: text("last_error"),
  lastReplica: text("last_replica"),
  runsSucceeded: bigint("runs_succeeded", { mode: "bigint" }).notNull().default(sql`0`),
  runsFailed: bigint("runs_failed", { mode: "bigint" }).notNull().default(sql`0`),
});

// ---- billing (Stripe customers, webhook inbox) and blocking ----

/** Tally's own record of each attribution id's Stripe customer, so lookups need no Stripe call. */
export const stripeCustomers = pgTable(
  "stripe_customers",
  {
    stripeCustomerId: text("stripe_customer_id").primaryKey(),
    attributionId: text("attribution_id").notNull(),
    /** The preferred currency (metadata preferredCurrency): EUR or USD. */
    currency: text("currency").notNull(),
    invalidBillingAddress: boolean("invalid_billing_address").notNull(),
    /** Bumped whenever invalid_billing_address changes; part of the automatic-tax idempotency keys. */
    taxStateVersion: integer("tax_state_version").notNull().default(0),
    /** The newest card-verification hold; a new hold's idempotency key derives from it. */
    holdPaymentIntentId: text("hold_payment_intent_id"),
    /**
     * Why this customer bills the attribution id when Stripe has several with its metadata (the one
     * with a live subscription, else the newest), naming the others; null when it was the only one.
     */
    selectionReason: text("selection_reason"),
    /** A live subscription `tally stripe sync` found (one Tally did not create); it counts as the team's. */
    syncedSubscriptionId: text("synced_subscription_id"),
    /**
     * A live subscription whose usage price has no billing meter (a legacy metered price Stripe's
     * current API cannot report to): its usage goes unbilled until `tally stripe migrate-prices`.
     */
    legacySubscriptionId: text("legacy_subscription_id"),
    legacyUsagePriceId: text("legacy_usage_price_id"),
    createdAt: timestamptz("created_at").notNull(),
    updatedAt: timestamptz("updated_at").notNull(),
  },
  (t) => [uniqueIndex("stripe_customers_attribution_idx").on(t.attributionId)],
);

/**
 * Stripe webhook events, stored before the 2xx and worked off by the inbox worker. One row per event
 * id, so a redelivered event is never processed twice.
 */
export const stripeWebhookEvents = pgTable(
  "stripe_webhook_events",
  {
    eventId: text("event_id").primaryKey(),
    type: text("type").notNull(),
    /** The Stripe object the event is about (data.object.id). */
    objectId: text("object_id").notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    status: text("status", { enum: ["pending", "processed", "ignored", "failed"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    /** When a pending event is due; while one is being processed, the end of its lease. */
    nextAttemptAt: timestamptz("next_attempt_at").notNull(),
    /** The last failed attempt's error; for an event ignored after a look at Stripe, why. */
    lastError: text("last_error"),
    receivedAt: timestamptz("received_at").notNull(),
    processedAt: timestamptz("processed_at"),
  },
  (t) => [index("stripe_webhook_events_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`)],
);

/**
 * Blocks of attribution ids (e.g. after a charge dispute). A block is active until unblocked; the
 * source (e.g. the dispute id) is unique, so one dispute blocks once, even after an operator unblocks.
 */
export const blockedAttributions = pgTable(
  "blocked_attributions",
  {
    id: uuid("id").primaryKey(),
    attributionId: text("attribution_id").notNull(),
    reason: text("reason").notNull(),
    source: text("source").notNull(),
    blockedAt: timestamptz("blocked_at").notNull(),
    unblockedAt: timestamptz("unblocked_at"),
    unblockReason: text("unblock_reason"),
  },
  (t) => [
    uniqueIndex("blocked_attributions_source_idx").on(t.source),
    index("blocked_attributions_active_idx").on(t.attributionId).where(sql`${t.unblockedAt} IS NULL`),
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

// --- outbound account events (webhooks) ---

/**
 * Where account events are delivered. Endpoints from the configuration are synced here at start
 * (source "config"); removed endpoints stay (removed_at) so their deliveries remain listed. A handful
 * of rows: no index beyond the key.
 */
export const eventEndpoints = pgTable("event_endpoints", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  description: text("description").notNull().default(""),
  eventTypes: text("event_types").array().notNull(),
  source: text("source", { enum: ["api", "config"] }).notNull(),
  /** whsec_<base64>: the key of the HMAC-SHA256 signatures (Standard Webhooks). */
  secret: text("secret").notNull(),
  /** After a rotation: also signed with until previous_secret_expires_at. */
  previousSecret: text("previous_secret"),
  previousSecretExpiresAt: timestamptz("previous_secret_expires_at"),
  createdAt: timestamptz("created_at").notNull(),
  updatedAt: timestamptz("updated_at").notNull(),
  removedAt: timestamptz("removed_at"),
});

/**
 * The outbox: one row per account event, written in the same transaction as the change that caused
 * it. `seq` orders the events of one attribution id: every writer holds the attribution's balance-row
 * lock while inserting, so a later commit always gets a higher seq.
 */
export const accountEvents = pgTable(
  "account_events",
  {
    seq: bigint("seq", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    /** The webhook-id of every delivery of this event. */
    id: uuid("id").notNull(),
    attributionId: text("attribution_id").notNull(),
    type: text("type").notNull(),
    data: jsonb("data").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("account_events_id_idx").on(t.id),
    index("account_events_attribution_idx").on(t.attributionId, t.seq),
  ],
);

/** One row per event and endpoint: its state, worked off by the dispatchers of every replica. */
export const eventDeliveries = pgTable(
  "event_deliveries",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    eventSeq: bigint("event_seq", { mode: "bigint" }).notNull(),
    endpointId: text("endpoint_id").notNull(),
    /** The event's, copied so that the per-attribution order needs no join. */
    attributionId: text("attribution_id").notNull(),
    status: text("status", { enum: ["pending", "delivered", "failed", "canceled"] }).notNull(),
    /** Attempts since it was created or last redelivered (the backoff and the give-up count these). */
    attempts: integer("attempts").notNull().default(0),
    /** When a pending delivery is due; while one is in flight, the end of its lease. */
    nextAttemptAt: timestamptz("next_attempt_at").notNull(),
    deliveredAt: timestamptz("delivered_at"),
  },
  (t) => [
    uniqueIndex("event_deliveries_event_endpoint_idx").on(t.eventSeq, t.endpointId),
    index("event_deliveries_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    // The head of each (endpoint, attribution id) queue: only it may be in flight.
    index("event_deliveries_queue_idx").on(t.endpointId, t.attributionId, t.eventSeq).where(sql`${t.status} = 'pending'`),
    // ListEvents of one endpoint, newest first.
    index("event_deliveries_endpoint_idx").on(t.endpointId, t.eventSeq),
    // ListEndpoints' pending and failed counts, and the backlog metric, without reading delivered rows.
    index("event_deliveries_open_idx").on(t.endpointId).where(sql`${t.status} IN ('pending', 'failed')`),
  ],
);

/** Every delivery attempt, kept for inspection: outcome, response code, latency. */
export const eventDeliveryAttempts = pgTable(
  "event_delivery_attempts",
  {
    id: bigint("id", { mode: "bigint" }).primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: bigint("delivery_id", { mode: "bigint" }).notNull(),
    attemptedAt: timestamptz("attempted_at").notNull(),
    outcome: text("outcome", { enum: ["delivered", "http_error", "timeout", "network_error"] }).notNull(),
    responseStatus: integer("response_status"),
    latencyMs: integer("latency_ms").notNull(),
    error: text("error"),
  },
  (t) => [index("event_delivery_attempts_delivery_idx").on(t.deliveryId, t.id)],
);

/**
 * The spending-limit level each attribution id was last told about (ok, warning, reached) and in
 * which billing cycle: threshold events fire when it changes, not on every ledger write. Changed
 * only under the attribution's balance-row lock.
 */
export const limitStates = pgTable("limit_states", {
  attributionId: text("attribution_id").primaryKey(),
  level: text("level", { enum: ["ok", "warning", "reached"] }).notNull(),
  /** The billing cycle of the level; null before the attribution id had a cost center. */
  cycleStart: timestamptz("cycle_start"),
  updatedAt: timestamptz("updated_at").notNull(),
});
// --- idempotency keys ---

/**
 * One row per idempotency key a client sent with a mutation: what it was used for and the result to
 * replay. For mutations in one transaction the row is written in that transaction, so a commit the
 * client never heard of is found by its retry. Kept at least idempotencyKeyRetention, then pruned.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    key: text("key").primaryKey(),
    /** "package.Service/Method" the key was first used with. */
    procedure: text("procedure").notNull(),
    /** SHA-256 of the request message: the same key with another request is refused. */
    requestHash: text("request_hash").notNull(),
    /** The result, replayed to retries; null while a call outside one transaction (billing) runs. */
    response: jsonb("response").$type<unknown>(),
    /** While response is null: until when the running call owns the key (a crashed one's lapses). */
    leaseUntil: timestamptz("lease_until"),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [index("idempotency_keys_created_idx").on(t.createdAt)],
);

// --- Gitpod mode (TALLY_GITPOD_DATABASE_URL) ---

/**
 * Free credits granted to an organization's first member, as Gitpod's usage component records them
 * in d_b_free_credits (which Tally only reads): one grant per user and per email. The import copies
 * d_b_free_credits here (source 'gitpod-import'); new cost centers record theirs (source 'tally').
 */
export const freeCreditGrants = pgTable(
  "free_credit_grants",
  {
    userId: text("user_id").primaryKey(),
    /** The user's primary email when the grant was made; null when the user had none. */
    email: text("email"),
    organizationId: text("organization_id").notNull(),
    grantedAt: timestamptz("granted_at").notNull(),
    source: text("source", { enum: ["tally", "gitpod-import"] }).notNull(),
  },
  (t) => [uniqueIndex("free_credit_grants_email_idx").on(t.email)],
);

/**
 * Charge disputes in Gitpod mode with TALLY_GITPOD_SERVER_URL: each dispute's organization owners are
 * looked up in Gitpod's database (retried until that succeeds), then each owner is blocked through
 * Gitpod's public API (gitpod_user_blocks, retried until it succeeds).
 */
export const gitpodDisputes = pgTable(
  "gitpod_disputes",
  {
    disputeId: text("dispute_id").primaryKey(),
    attributionId: text("attribution_id").notNull(),
    /** When the owners were looked up (and a gitpod_user_blocks row written for each); null until then. */
    ownersFoundAt: timestamptz("owners_found_at"),
    attempts: integer("attempts").notNull(),
    lastError: text("last_error"),
    nextAttemptAt: timestamptz("next_attempt_at").notNull(),
    createdAt: timestamptz("created_at").notNull(),
  },
  (t) => [index("gitpod_disputes_due_idx").on(t.nextAttemptAt).where(sql`${t.ownersFoundAt} IS NULL`)],
);

/** One Gitpod user to block for one dispute: pending until Gitpod's BlockUser answered OK, then blocked. */
export const gitpodUserBlocks = pgTable(
  "gitpod_user_blocks",
  {
    disputeId: text("dispute_id").notNull(),
    userId: text("user_id").notNull(),
    attributionId: text("attribution_id").notNull(),
    reason: text("reason").notNull(),
    status: text("status", { enum: ["pending", "blocked"] }).notNull(),
    attempts: integer("attempts").notNull(),
    lastError: text("last_error"),
    nextAttemptAt: timestamptz("next_attempt_at").notNull(),
    createdAt: timestamptz("created_at").notNull(),
    blockedAt: timestamptz("blocked_at"),
  },
  (t) => [
    primaryKey({ columns: [t.disputeId, t.userId] }),
    index("gitpod_user_blocks_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
  ],
);
