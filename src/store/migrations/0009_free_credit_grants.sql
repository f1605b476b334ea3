CREATE TABLE "free_credit_grants" (
	"user_id" text PRIMARY KEY NOT NULL,
	"email" text,
	"organization_id" text NOT NULL,
	"granted_at" timestamp (3) with time zone NOT NULL,
	"source" text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "free_credit_grants_email_idx" ON "free_credit_grants" USING btree ("email");