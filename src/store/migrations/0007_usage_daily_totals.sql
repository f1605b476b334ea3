CREATE TABLE "usage_daily_totals" (
	"attribution_id" text NOT NULL,
	"user_scope" text NOT NULL,
	"day" date NOT NULL,
	"workspace_class" text NOT NULL,
	"entries" bigint NOT NULL,
	"credit_cents" bigint NOT NULL,
	CONSTRAINT "usage_daily_totals_pkey" PRIMARY KEY("attribution_id","user_scope","day","workspace_class")
);
--> statement-breakpoint
DROP INDEX "usage_instance_time_idx";--> statement-breakpoint
DROP INDEX "usage_payments_idx";--> statement-breakpoint
CREATE INDEX "usage_instance_listing_idx" ON "usage" USING btree ("attribution_id","effective_time","id") WHERE "usage"."kind" = 'workspaceinstance';--> statement-breakpoint
CREATE INDEX "usage_instance_user_listing_idx" ON "usage" USING btree ("attribution_id",("metadata" ->> 'userId'),"effective_time","id") WHERE "usage"."kind" = 'workspaceinstance' AND ("usage"."metadata" ->> 'userId') IS NOT NULL;--> statement-breakpoint
CREATE INDEX "usage_payments_idx" ON "usage" USING btree ("attribution_id","effective_time","id") WHERE "usage"."kind" <> 'workspaceinstance';