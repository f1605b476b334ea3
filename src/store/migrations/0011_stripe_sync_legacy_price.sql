ALTER TABLE "stripe_customers" ADD COLUMN "synced_subscription_id" text;--> statement-breakpoint
ALTER TABLE "stripe_customers" ADD COLUMN "legacy_subscription_id" text;--> statement-breakpoint
ALTER TABLE "stripe_customers" ADD COLUMN "legacy_usage_price_id" text;