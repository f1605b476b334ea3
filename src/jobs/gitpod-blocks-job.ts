// The gitpod-blocks job (Gitpod mode with TALLY_GITPOD_SERVER_URL): retries what a charge dispute
// could not do right away, looking up the organization's owners and blocking them in Gitpod. A run
// with a failure counts as failed, with the reason, so job status shows it until the block went through.
import type { GitpodDisputeBlocker } from "../gitpod/dispute-blocks.js";
import type { ScheduledJob } from "./job-scheduler.js";

export const gitpodBlocksIntervalMs = 30_000;

export function gitpodBlocksJob(blocker: GitpodDisputeBlocker, intervalMs = gitpodBlocksIntervalMs): ScheduledJob {
  return {
    name: "gitpod-blocks",
    intervalMs,
    async run() {
      const summary = await blocker.run();
      if (summary.failures.length > 0) {
        const first = summary.failures[0]!;
        throw new Error(
          `${summary.failures.length} Gitpod blocks failed and are retried (${summary.usersBlocked} users blocked in this run), first ${first.what}: ${first.error}`,
        );
      }
      return { ownersFound: summary.ownersFound, usersBlocked: summary.usersBlocked };
    },
  };
}
