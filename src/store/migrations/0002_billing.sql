CREATE TABLE "blocked_attributions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"attribution_id" text NOT NULL,
	"reason" text NOT NULL,
	"source" text NOT NULL,
	"blocked_at" timestamp (3) with time zone NOT NULL,
	"unblocked_at" timestamp (3) with time zone,
	"unblock_reason" text
);
--> statement-breakpoint
CREATE TABLE "stripe_customers" (
	"stripe_customer_id" text PRIMARY KEY NOT NULL,
	"attribution_id" text NOT NULL,
	"currency" text NOT NULL,
	"invalid_billing_address" boolean NOT NULL,
	"tax_state_version" integer DEFAULT 0 NOT NULL,
	"hold_payment_intent_id" text,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_webhook_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"object_id" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone NOT NULL,
	"last_error" text,
	"received_at" timestamp (3) with time zone NOT NULL,
	"processed_at" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "blocked_attributions_source_idx" ON "blocked_attributions" USING btree ("source");--> statement-breakpoint
CREATE INDEX "blocked_attributions_active_idx" ON "blocked_attributions" USING btree ("attribution_id") WHERE "blocked_attributions"."unblocked_at" IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "stripe_customers_attribution_idx" ON "stripe_customers" USING btree ("attribution_id");--> statement-breakpoint
CREATE INDEX "stripe_webhook_events_due_idx" ON "stripe_webhook_events" USING btree ("next_attempt_at") WHERE "stripe_webhook_events"."status" = 'pending';