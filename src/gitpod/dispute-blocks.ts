// Charge disputes in Gitpod mode (TALLY_GITPOD_SERVER_URL): besides Tally's own block of the
// attribution id, every owner of the organization is blocked in Gitpod through its public API,
// gitpod.experimental.v1.UserService/BlockUser (Connect, unauthenticated, the server's internal
// address), with the reason the usage component used. Owners come from d_b_team_membership.
//
// Both steps are recorded (gitpod_disputes, gitpod_user_blocks) and retried until they succeed: a
// dispute tries once right away, the `gitpod-blocks` job retries what is due with a backoff. Failures
// are logged, counted in metrics (pending blocks, failed attempts) and make the job run fail with the
// reason, so they show in job status until the block went through.
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { and, asc, eq, isNull, lte, sql } from "drizzle-orm";
import type { Clock } from "../domain/clock.js";
import { UserService } from "../gen/gitpod/experimental/v1/user_pb.js";
import type { Logger } from "../logger.js";
import type { Database } from "../store/database.js";
import { rowsOf } from "../store/raw-result.js";
import { gitpodDisputes, gitpodUserBlocks } from "../store/schema.js";
import type { GitpodDatabase } from "./gitpod-database.js";

/** How long one BlockUser call may take. */
export const blockUserTimeoutMs = 10_000;
/** Rows handled per step of a run. */
const batchSize = 100;
const errorLengthMax = 2000;

/** 30 s, 1 min, 2 min, ... capped at 1 h. */
export function blockRetryDelayMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.min(Math.max(attempts - 1, 0), 20), 3_600_000);
}

export const blockReason = (disputeId: string) => `User has created a Stripe dispute ID: ${disputeId}`;

export interface DisputeBlockerDeps {
  readonly db: Database;
  readonly gitpod: GitpodDatabase;
  /** Gitpod server's internal base URL, e.g. http://server.default.svc.cluster.local:3000 */
  readonly serverUrl: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told of every failed attempt (owner lookup or BlockUser), for metrics. */
  readonly onFailure?: (step: "owners" | "block_user") => void;
}

export interface BlockRunSummary {
  readonly ownersFound: number;
  readonly usersBlocked: number;
  readonly failures: ReadonlyArray<{ what: string; error: string }>;
}

export interface GitpodUserBlock {
  readonly disputeId: string;
  readonly userId: string;
  readonly attributionId: string;
  readonly status: "pending" | "blocked";
  readonly attempts: number;
  readonly lastError: string | null;
  readonly nextAttemptAt: Date;
  readonly blockedAt: Date | null;
}

export class GitpodDisputeBlocker {
  private readonly users: Client<typeof UserService>;

  constructor(private readonly deps: DisputeBlockerDeps) {
    this.users = createClient(UserService, createConnectTransport({ baseUrl: deps.serverUrl, httpVersion: "1.1" }));
  }

  /**
   * A dispute on `attributionId`: recorded once, then its owners are looked up and blocked right
   * away. Never throws for Gitpod's trouble (the job retries); Tally's database errors do throw.
   */
  async onDispute(disputeId: string, attributionId: string): Promise<BlockRunSummary> {
    const now = this.deps.clock.now();
    await this.deps.db
      .insert(gitpodDisputes)
      .values({ disputeId, attributionId, attempts: 0, nextAttemptAt: now, createdAt: now })
      .onConflictDoNothing();
    return this.run({ disputeId });
  }

  /** Looks up owners and blocks users that are due (all, or those of one dispute). */
  async run(only: { disputeId?: string } = {}): Promise<BlockRunSummary> {
    const failures: Array<{ what: string; error: string }> = [];
    let ownersFound = 0;
    let usersBlocked = 0;
    const now = this.deps.clock.now();
    const disputes = await this.deps.db
      .select()
      .from(gitpodDisputes)
      .where(
        and(
          isNull(gitpodDisputes.ownersFoundAt),
          only.disputeId ? eq(gitpodDisputes.disputeId, only.disputeId) : lte(gitpodDisputes.nextAttemptAt, now),
        ),
      )
      .orderBy(asc(gitpodDisputes.nextAttemptAt))
      .limit(batchSize);
    for (const dispute of disputes) {
      try {
        const owners = await this.ownersOf(dispute.attributionId);
        await this.deps.db.transaction(async (tx) => {
          if (owners.length > 0) {
            await tx
              .insert(gitpodUserBlocks)
              .values(
                owners.map((userId) => ({
                  disputeId: dispute.disputeId,
                  userId,
                  attributionId: dispute.attributionId,
                  reason: blockReason(dispute.disputeId),
                  status: "pending" as const,
                  attempts: 0,
                  nextAttemptAt: now,
                  createdAt: now,
                })),
              )
              .onConflictDoNothing();
          }
          await tx.update(gitpodDisputes).set({ ownersFoundAt: now, lastError: null }).where(eq(gitpodDisputes.disputeId, dispute.disputeId));
        });
        ownersFound += owners.length;
        if (owners.length === 0) {
          this.deps.logger.warn({ disputeId: dispute.disputeId, attributionId: dispute.attributionId }, "charge dispute: %s has no owner in Gitpod to block", dispute.attributionId);
        }
      } catch (error) {
        const message = messageOf(error);
        failures.push({ what: `owners of ${dispute.attributionId} (dispute ${dispute.disputeId})`, error: message });
        this.deps.onFailure?.("owners");
        const attempts = dispute.attempts + 1;
        await this.deps.db
          .update(gitpodDisputes)
          .set({ attempts, lastError: message, nextAttemptAt: new Date(now.getTime() + blockRetryDelayMs(attempts)) })
          .where(eq(gitpodDisputes.disputeId, dispute.disputeId));
        this.deps.logger.warn(
          { disputeId: dispute.disputeId, attributionId: dispute.attributionId, attempts, err: error },
          "charge dispute: looking up the owners of %s in Gitpod's database failed (attempt %d, retried): %s",
          dispute.attributionId,
          attempts,
          message,
        );
      }
    }
    const due = await this.deps.db
      .select()
      .from(gitpodUserBlocks)
      .where(
        and(
          eq(gitpodUserBlocks.status, "pending"),
          only.disputeId ? eq(gitpodUserBlocks.disputeId, only.disputeId) : lte(gitpodUserBlocks.nextAttemptAt, now),
        ),
      )
      .orderBy(asc(gitpodUserBlocks.nextAttemptAt))
      .limit(batchSize);
    for (const block of due) {
      const key = and(eq(gitpodUserBlocks.disputeId, block.disputeId), eq(gitpodUserBlocks.userId, block.userId));
      try {
        await this.users.blockUser({ userId: block.userId, reason: block.reason }, { timeoutMs: blockUserTimeoutMs });
        await this.deps.db
          .update(gitpodUserBlocks)
          .set({ status: "blocked", blockedAt: this.deps.clock.now(), attempts: block.attempts + 1, lastError: null })
          .where(key);
        usersBlocked += 1;
        this.deps.logger.info(
          { disputeId: block.disputeId, userId: block.userId, attributionId: block.attributionId },
          "charge dispute: blocked Gitpod user %s, owner of %s",
          block.userId,
          block.attributionId,
        );
      } catch (error) {
        const message = messageOf(error);
        failures.push({ what: `BlockUser ${block.userId} (dispute ${block.disputeId})`, error: message });
        this.deps.onFailure?.("block_user");
        const attempts = block.attempts + 1;
        await this.deps.db
          .update(gitpodUserBlocks)
          .set({ attempts, lastError: message, nextAttemptAt: new Date(now.getTime() + blockRetryDelayMs(attempts)) })
          .where(key);
        this.deps.logger.warn(
          { disputeId: block.disputeId, userId: block.userId, attempts, err: error },
          "charge dispute: blocking Gitpod user %s failed (attempt %d, retried): %s",
          block.userId,
          attempts,
          message,
        );
      }
    }
    return { ownersFound, usersBlocked, failures };
  }

  /** Pending work, for metrics and status: users not blocked yet, disputes whose owners are unknown yet. */
  async backlog(): Promise<{ pendingUsers: number; pendingDisputes: number; blockedUsers: number }> {
    const [row] = rowsOf<{ pending_users: number; pending_disputes: number; blocked_users: number }>(
      await this.deps.db.execute(sql`
        SELECT
          (SELECT count(*) FROM gitpod_user_blocks WHERE status = 'pending')::int AS pending_users,
          (SELECT count(*) FROM gitpod_disputes WHERE owners_found_at IS NULL)::int AS pending_disputes,
          (SELECT count(*) FROM gitpod_user_blocks WHERE status = 'blocked')::int AS blocked_users`),
    );
    return { pendingUsers: row?.pending_users ?? 0, pendingDisputes: row?.pending_disputes ?? 0, blockedUsers: row?.blocked_users ?? 0 };
  }

  /** The Gitpod users of a dispute (or of all disputes of an attribution id), for operators and tests. */
  async blocksOf(filter: { disputeId?: string; attributionId?: string }): Promise<GitpodUserBlock[]> {
    const rows = await this.deps.db
      .select()
      .from(gitpodUserBlocks)
      .where(
        and(
          filter.disputeId ? eq(gitpodUserBlocks.disputeId, filter.disputeId) : undefined,
          filter.attributionId ? eq(gitpodUserBlocks.attributionId, filter.attributionId) : undefined,
        ),
      )
      .orderBy(asc(gitpodUserBlocks.userId));
    return rows.map((row) => ({
      disputeId: row.disputeId,
      userId: row.userId,
      attributionId: row.attributionId,
      status: row.status,
      attempts: row.attempts,
      lastError: row.lastError,
      nextAttemptAt: row.nextAttemptAt,
      blockedAt: row.blockedAt,
    }));
  }

  /** Owners of a `team:` attribution id from d_b_team_membership; a `user:` id is that user. */
  private async ownersOf(attributionId: string): Promise<string[]> {
    const [kind, id] = attributionId.split(":");
    if (kind === "user" && id) return [id];
    const rows = await this.deps.gitpod.query<{ userId: string }>(
      "SELECT DISTINCT userId FROM d_b_team_membership WHERE teamId = ? AND role = 'owner' AND deleted = 0 ORDER BY userId",
      [id ?? ""],
    );
    return rows.map((row) => row.userId);
  }
}

function messageOf(error: unknown): string {
  const message = error instanceof ConnectError ? `${Code[error.code]}: ${error.rawMessage}` : error instanceof Error ? error.message : String(error);
  return message.slice(0, errorLengthMax);
}
