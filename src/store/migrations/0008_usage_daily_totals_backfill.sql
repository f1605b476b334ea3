-- Rows of daily totals and balances are rewritten many times (every ledger write on the same day,
-- every ledger run for running workspaces). Half-empty pages let PostgreSQL rewrite them in place
-- (HOT: no new index entry, the old version pruned on the page), so their indexes do not fill with
-- dead entries that every later read must step over until a vacuum comes.
ALTER TABLE "usage_daily_totals" SET (fillfactor = 50);
--> statement-breakpoint
ALTER TABLE "balances" SET (fillfactor = 50);
--> statement-breakpoint
-- Daily totals of the workspace-instance usage already in the ledger (domain/ledger-totals.ts):
-- one row per attribution id, UTC day and workspace class for all users (user_scope ''), and one
-- per user id for entries that name a user. From here on every ledger write keeps them up.
INSERT INTO "usage_daily_totals" ("attribution_id", "user_scope", "day", "workspace_class", "entries", "credit_cents")
SELECT "attribution_id", '', ("effective_time" AT TIME ZONE 'UTC')::date, coalesce("metadata" ->> 'workspaceClass', ''),
  count(*), sum("credit_cents")
FROM "usage"
WHERE "kind" = 'workspaceinstance'
GROUP BY 1, 3, 4;
--> statement-breakpoint
INSERT INTO "usage_daily_totals" ("attribution_id", "user_scope", "day", "workspace_class", "entries", "credit_cents")
SELECT "attribution_id", "metadata" ->> 'userId', ("effective_time" AT TIME ZONE 'UTC')::date,
  coalesce("metadata" ->> 'workspaceClass', ''), count(*), sum("credit_cents")
FROM "usage"
WHERE "kind" = 'workspaceinstance' AND coalesce("metadata" ->> 'userId', '') <> ''
GROUP BY 1, 2, 3, 4;
