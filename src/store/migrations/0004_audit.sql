CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"time" timestamp (3) with time zone NOT NULL,
	"actor" text NOT NULL,
	"procedure" text NOT NULL,
	"attribution_id" text,
	"details" jsonb NOT NULL,
	"outcome" text NOT NULL,
	"error_message" text,
	"request_id" text
);
--> statement-breakpoint
CREATE INDEX "audit_log_attribution_idx" ON "audit_log" USING btree ("attribution_id","id");