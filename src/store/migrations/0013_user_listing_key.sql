-- The per-user listing index keyed by a 64-bit hash of attribution id and user id instead of their
-- text (schema.ts userListingKey): a third of the size, so reconcile's writes into it stay in
-- shared buffers at millions of entries.
DROP INDEX "usage_instance_user_listing_idx";--> statement-breakpoint
CREATE INDEX "usage_instance_user_listing_idx" ON "usage" USING btree (hashtextextended("attribution_id" || '/' || ("metadata" ->> 'userId'), 0),"effective_time","id") WHERE "usage"."kind" = 'workspaceinstance' AND ("usage"."metadata" ->> 'userId') IS NOT NULL;
