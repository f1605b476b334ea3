CREATE TABLE "free_credit_grants" (
	"user_id" text PRIMARY KEY NOT NULL,
	"email" text,
	"organization_id" text NOT NULL,
	"granted_at" timestamp (3) with time zone NOT NULL,
	"source" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "gitpod_disputes" (
	"dispute_id" text PRIMARY KEY NOT NULL,
	"attribution_id" text NOT NULL,
	"owners_found_at" timestamp (3) with time zone,
	"attempts" integer NOT NULL,
	"last_error" text,
	"next_attempt_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "gitpod_user_blocks" (
	"dispute_id" text NOT NULL,
	"user_id" text NOT NULL,
	"attribution_id" text NOT NULL,
	"reason" text NOT NULL,
	"status" text NOT NULL,
	"attempts" integer NOT NULL,
	"last_error" text,
	"next_attempt_at" timestamp (3) with time zone NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"blocked_at" timestamp (3) with time zone,
	CONSTRAINT "gitpod_user_blocks_dispute_id_user_id_pk" PRIMARY KEY("dispute_id","user_id")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "free_credit_grants_email_idx" ON "free_credit_grants" USING btree ("email");--> statement-breakpoint
CREATE INDEX "gitpod_disputes_due_idx" ON "gitpod_disputes" USING btree ("next_attempt_at") WHERE "gitpod_disputes"."owners_found_at" IS NULL;--> statement-breakpoint
CREATE INDEX "gitpod_user_blocks_due_idx" ON "gitpod_user_blocks" USING btree ("next_attempt_at") WHERE "gitpod_user_blocks"."status" = 'pending';