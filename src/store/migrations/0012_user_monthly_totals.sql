-- One user's totals move from per-day rows of usage_daily_totals (user_scope = the user id) to per-
-- month rows of their own table (domain/ledger-totals.ts): per day they were about one row per entry,
-- and writing them cost a reconcile more than the entry itself. Rewritten in place like the balance
-- rows, hence the half-empty pages (0008).
CREATE TABLE "usage_user_monthly_totals" (
	"attribution_id" text NOT NULL,
	"user_id" text NOT NULL,
	"month" date NOT NULL,
	"entries" bigint NOT NULL,
	"credit_cents" bigint NOT NULL,
	CONSTRAINT "usage_user_monthly_totals_pkey" PRIMARY KEY("attribution_id","user_id","month")
) WITH (fillfactor = 50);
--> statement-breakpoint
INSERT INTO "usage_user_monthly_totals" ("attribution_id", "user_id", "month", "entries", "credit_cents")
SELECT "attribution_id", "user_scope", date_trunc('month', "day"::timestamp)::date, sum("entries"), sum("credit_cents")
FROM "usage_daily_totals"
WHERE "user_scope" <> ''
GROUP BY 1, 2, 3;
--> statement-breakpoint
DELETE FROM "usage_daily_totals" WHERE "user_scope" <> '';
--> statement-breakpoint
ALTER TABLE "usage_daily_totals" DROP CONSTRAINT "usage_daily_totals_pkey";
--> statement-breakpoint
ALTER TABLE "usage_daily_totals" DROP COLUMN "user_scope";
--> statement-breakpoint
ALTER TABLE "usage_daily_totals" ADD CONSTRAINT "usage_daily_totals_pkey" PRIMARY KEY("attribution_id","day","workspace_class");
