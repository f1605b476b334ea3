CREATE TABLE "job_runs" (
	"job" text PRIMARY KEY NOT NULL,
	"last_success_at" timestamp (3) with time zone,
	"last_duration_ms" integer,
	"last_started_at" timestamp (3) with time zone,
	"last_finished_at" timestamp (3) with time zone,
	"last_failure_at" timestamp (3) with time zone,
	"last_error" text,
	"last_replica" text,
	"runs_succeeded" bigint DEFAULT 0 NOT NULL,
	"runs_failed" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workspace_instances" (
	"id" uuid PRIMARY KEY NOT NULL,
	"attribution_id" text,
	"workspace_id" text NOT NULL,
	"user_id" uuid,
	"workspace_class" text DEFAULT '' NOT NULL,
	"workspace_type" text,
	"creation_time" timestamp (3) with time zone,
	"started_time" timestamp (3) with time zone,
	"stopping_time" timestamp (3) with time zone,
	"stopped_time" timestamp (3) with time zone,
	"project_id" text DEFAULT '' NOT NULL,
	"context_url" text DEFAULT '' NOT NULL,
	"user_name" text DEFAULT '' NOT NULL,
	"user_avatar_url" text DEFAULT '' NOT NULL,
	"reported_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "workspace_instances_stop_idx" ON "workspace_instances" USING btree (coalesce("stopping_time", "stopped_time"),"id");--> statement-breakpoint
CREATE INDEX "workspace_instances_running_idx" ON "workspace_instances" USING btree ("id") WHERE "workspace_instances"."stopping_time" IS NULL AND "workspace_instances"."stopped_time" IS NULL;--> statement-breakpoint
CREATE INDEX "workspace_instances_reported_idx" ON "workspace_instances" USING btree ("reported_at","id");