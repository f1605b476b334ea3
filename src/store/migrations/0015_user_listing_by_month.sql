-- The per-user listing index keyed by UTC month first (schema.ts listingMonth), then the hashed ids
-- and the time: reconcile writes it at one place per team and user, and keyed by user first those
-- places spread over the whole index, which at a million entries no longer stayed in shared buffers.
-- Keyed by month, they lie in the current month's part. Queries read one month of a user at a time.
DROP INDEX "usage_instance_user_listing_idx";--> statement-breakpoint
CREATE INDEX "usage_instance_user_listing_idx" ON "usage" USING btree (date_trunc('month', "effective_time" AT TIME ZONE 'UTC'),hashtextextended("attribution_id" || '/' || ("metadata" ->> 'userId'), 0),"effective_time","id") WHERE "usage"."kind" = 'workspaceinstance' AND ("usage"."metadata" ->> 'userId') IS NOT NULL;
