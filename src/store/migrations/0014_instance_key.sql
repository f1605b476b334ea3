-- A workspace instance's entry ("instance:<id>") is unique by its instance id (16 bytes) instead of
-- its source key text (45 characters): reconcile probes and writes this index at a random place per
-- instance, and at a million entries the text index no longer fitted in shared buffers beside the
-- listing indexes. Every other entry stays unique by its source key. The check keeps "instance:" keys
-- to instance entries whose id matches, so the two indexes keep every source key unique; NOT VALID:
-- it holds for every entry written from now on without reading the whole ledger at the upgrade.
CREATE UNIQUE INDEX "usage_instance_key_idx" ON "usage" USING btree ("workspace_instance_id") WHERE "usage"."kind" = 'workspaceinstance' AND "usage"."workspace_instance_id" IS NOT NULL AND "usage"."source_key" = 'instance:' || "usage"."workspace_instance_id"::text;--> statement-breakpoint
DROP INDEX "usage_source_key_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "usage_source_key_idx" ON "usage" USING btree ("source_key") WHERE NOT ("usage"."kind" = 'workspaceinstance' AND "usage"."workspace_instance_id" IS NOT NULL AND "usage"."source_key" = 'instance:' || "usage"."workspace_instance_id"::text);--> statement-breakpoint
ALTER TABLE "usage" ADD CONSTRAINT "usage_instance_key_check" CHECK (NOT starts_with("usage"."source_key", 'instance:') OR ("usage"."kind" = 'workspaceinstance' AND "usage"."workspace_instance_id" IS NOT NULL AND "usage"."source_key" = 'instance:' || "usage"."workspace_instance_id"::text)) NOT VALID;
