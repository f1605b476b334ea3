// The spending limit of a new organization's cost center in Gitpod mode, by the existing usage
// component's first-organization rule (GITPOD-DB.md): the organization's first member (by
// membership creationTime) and that member's email get `forUsers` once; every later organization
// of the same user or email gets `forTeams`. Any lookup failure gives `forTeams`.
//
// Grants already recorded by Gitpod (d_b_free_credits) are honoured by reading them; Tally never
// writes to Gitpod's database and records its own grants in free_credit_grants, in the transaction
// that creates the cost center (under the attribution's lock), so a grant and its cost center are
// stored together or not at all, and two organizations of one user racing get one grant.
import { sql } from "drizzle-orm";
import type { DefaultSpendingLimits } from "../domain/cost-center.js";
import type { Logger } from "../logger.js";
import type { NewTeamLimit } from "../services/cost-center-service.js";
import { rowsOf } from "../store/raw-result.js";
import { freeCreditGrants } from "../store/schema.js";
import type { Transaction } from "../store/transactions.js";
import type { GitpodDatabase } from "./gitpod-database.js";

/** What Gitpod's database says about an organization's first member (read before the transaction). */
export interface FreeCreditCandidate {
  readonly userId: string;
  /** The member's emails (lower-case), primary first; empty when the member has none. */
  readonly emails: readonly string[];
  /** d_b_free_credits already holds a grant for this user or one of these emails. */
  readonly grantedInGitpod: boolean;
}

export interface FreeCreditsDeps {
  readonly gitpod: GitpodDatabase;
  readonly defaults: DefaultSpendingLimits;
  readonly logger: Logger;
}

/** Emails compare case-insensitively, as MySQL's default collation compares them in d_b_free_credits. */
export const normalizeEmail = (email: string): string => email.trim().toLowerCase();

export class GitpodFreeCredits implements NewTeamLimit<FreeCreditCandidate | "no member" | "lookup failed"> {
  constructor(private readonly deps: FreeCreditsDeps) {}

  /** Reads Gitpod's database (outside Tally's transaction). Never throws: a failure means forTeams. */
  async prepare(organizationId: string): Promise<FreeCreditCandidate | "no member" | "lookup failed"> {
    try {
      const [member] = await this.deps.gitpod.query<{ userId: string }>(
        "SELECT userId FROM d_b_team_membership WHERE teamId = ? AND deleted = 0 ORDER BY creationTime ASC, id ASC LIMIT 1",
        [organizationId],
      );
      if (!member) return "no member";
      const identities = await this.deps.gitpod.query<{ primaryEmail: string }>(
        "SELECT primaryEmail FROM d_b_identity WHERE userId = ? AND deleted = 0 AND primaryEmail <> '' ORDER BY authProviderId, authId",
        [member.userId],
      );
      const emails = [...new Set(identities.map((row) => normalizeEmail(row.primaryEmail)).filter((email) => email !== ""))];
      const granted = await this.deps.gitpod.query<{ userId: string }>(
        emails.length > 0
          ? "SELECT userId FROM d_b_free_credits WHERE userId = ? OR email IN (?) LIMIT 1"
          : "SELECT userId FROM d_b_free_credits WHERE userId = ? LIMIT 1",
        emails.length > 0 ? [member.userId, emails] : [member.userId],
      );
      return { userId: member.userId, emails, grantedInGitpod: granted.length > 0 };
    } catch (error) {
      this.deps.logger.warn(
        { err: error, organizationId },
        "free credits: looking up the first member of organization %s in Gitpod's database failed; its cost center gets the team limit",
        organizationId,
      );
      return "lookup failed";
    }
  }

  /** In the transaction creating the cost center: forUsers with a new grant, else forTeams. */
  async limitFor(
    tx: Transaction,
    organizationId: string,
    prepared: FreeCreditCandidate | "no member" | "lookup failed",
    now: Date,
  ): Promise<number> {
    const { forTeams, forUsers } = this.deps.defaults;
    if (prepared === "no member" || prepared === "lookup failed" || prepared.grantedInGitpod) return forTeams;
    const emailMatch = prepared.emails.length > 0 ? sql` OR email IN (${sql.join(prepared.emails.map((e) => sql`${e}`), sql`, `)})` : sql``;
    const existing = await tx.execute(sql`SELECT 1 FROM free_credit_grants WHERE user_id = ${prepared.userId}${emailMatch} LIMIT 1`);
    if (rowsOf(existing).length > 0) return forTeams;
    // A grant made concurrently for another organization of the same user or email wins; this one
    // then inserts nothing and gets the team limit.
    const inserted = await tx
      .insert(freeCreditGrants)
      .values({ userId: prepared.userId, email: prepared.emails[0] ?? null, organizationId, grantedAt: now, source: "tally" })
      .onConflictDoNothing()
      .returning({ userId: freeCreditGrants.userId });
    if (inserted.length === 0) return forTeams;
    this.deps.logger.info(
      { organizationId, userId: prepared.userId },
      "free credits: organization %s is the first of user %s and gets the user limit (%d credits)",
      organizationId,
      prepared.userId,
      forUsers,
    );
    return forUsers;
  }
}
