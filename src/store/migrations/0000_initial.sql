CREATE TABLE "balances" (
	"attribution_id" text PRIMARY KEY NOT NULL,
	"balance_cents" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cost_centers" (
	"attribution_id" text NOT NULL,
	"version" integer NOT NULL,
	"spending_limit_credits" integer NOT NULL,
	"billing_strategy" text NOT NULL,
	"billing_cycle_start" timestamp (3) with time zone NOT NULL,
	"next_billing_time" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "cost_centers_attribution_id_version_pk" PRIMARY KEY("attribution_id","version"),
	CONSTRAINT "cost_centers_limit_check" CHECK ("cost_centers"."spending_limit_credits" >= 0),
	CONSTRAINT "cost_centers_cycle_check" CHECK ("cost_centers"."next_billing_time" > "cost_centers"."billing_cycle_start")
);
--> statement-breakpoint
CREATE TABLE "usage" (
	"id" uuid PRIMARY KEY NOT NULL,
	"attribution_id" text NOT NULL,
	"source_key" text NOT NULL,
	"kind" text NOT NULL,
	"description" text NOT NULL,
	"credit_cents" bigint NOT NULL,
	"effective_time" timestamp (3) with time zone NOT NULL,
	"workspace_instance_id" uuid,
	"draft" boolean NOT NULL,
	"metadata" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "usage_draft_kind_check" CHECK (NOT "usage"."draft" OR "usage"."kind" = 'workspaceinstance')
);
--> statement-breakpoint
CREATE INDEX "cost_centers_due_idx" ON "cost_centers" USING btree ("billing_strategy","next_billing_time");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_source_key_idx" ON "usage" USING btree ("source_key");--> statement-breakpoint
CREATE INDEX "usage_instance_time_idx" ON "usage" USING btree ("attribution_id","effective_time") WHERE "usage"."kind" = 'workspaceinstance';--> statement-breakpoint
CREATE INDEX "usage_drafts_idx" ON "usage" USING btree ("workspace_instance_id") WHERE "usage"."draft";