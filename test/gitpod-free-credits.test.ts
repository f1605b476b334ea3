// Gitpod mode, the default limit of a new organization's cost center: the first-organization
// free-credit rule of GITPOD-DB.md against a real MariaDB with Gitpod's tables. Tally records its
// grants in free_credit_grants, honours those already in d_b_free_credits, and never writes there.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import { listCostCenterHistory } from "../src/store/cost-centers.js";
import { rowsOf } from "../src/store/raw-result.js";
import { createGitpodTestDatabase, type GitpodTestDatabase } from "./support/gitpod-database.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const forTeams = 0;
const forUsers = 500;

interface GrantRow {
  user_id: string;
  email: string | null;
  organization_id: string;
  source: string;
}

describe("Gitpod mode: free credits for a user's first organization", () => {
  let gitpod: GitpodTestDatabase;
  let t: TestTally;
  const first = new Date("2025-06-01T10:00:00.000Z");
  const later = new Date("2025-06-02T10:00:00.000Z");

  before(async () => {
    gitpod = await createGitpodTestDatabase();
    t = await startTestTally({
      env: {
        TALLY_GITPOD_DATABASE_URL: gitpod.url,
        TALLY_DEFAULT_SPENDING_LIMIT_TEAMS: String(forTeams),
        TALLY_DEFAULT_SPENDING_LIMIT_USERS: String(forUsers),
      },
    });
  });
  after(async () => {
    await t?.stop();
    await gitpod?.drop();
  });

  async function grants(): Promise<GrantRow[]> {
    return rowsOf<GrantRow>(
      await t.tally.database.db.execute(sql`SELECT user_id, email, organization_id, source FROM free_credit_grants ORDER BY granted_at, user_id`),
    );
  }
  async function grantOf(userId: string): Promise<GrantRow | undefined> {
    return (await grants()).find((grant) => grant.user_id === userId);
  }
  async function limitOf(organizationId: string): Promise<number> {
    return (await t.grpc.getCostCenter({ attributionId: `team:${organizationId}` })).costCenter.spendingLimit;
  }
  /** A user with one identity (email), the first (owner) member of a new organization. */
  async function organizationOf(userId: string, options: { joined?: Date } = {}): Promise<string> {
    const organizationId = randomUUID();
    await gitpod.insertTeamMemberships([{ teamId: organizationId, userId, role: "owner", creationTime: options.joined ?? first }]);
    return organizationId;
  }
  async function user(email: string): Promise<string> {
    const userId = randomUUID();
    await gitpod.insertUsers([{ id: userId, name: email }]);
    if (email !== "") await gitpod.insertIdentities([{ userId, primaryEmail: email }]);
    return userId;
  }

  it("gives a user's first organization the user limit once, records the grant in Tally, and the second organization the team limit", async () => {
    const alice = await user("alice@example.com");
    const bob = await user("bob@example.com");
    const org1 = randomUUID();
    // Bob joined later: the first member (by creationTime) is Alice, whatever the row order.
    await gitpod.insertTeamMemberships([
      { teamId: org1, userId: bob, role: "member", creationTime: later },
      { teamId: org1, userId: alice, role: "owner", creationTime: first },
    ]);
    assert.equal(await limitOf(org1), forUsers);
    assert.deepEqual(await grantOf(alice), { user_id: alice, email: "alice@example.com", organization_id: org1, source: "tally" });
    assert.equal(await grantOf(bob), undefined);
    // Asked again: the stored cost center, nothing granted twice.
    assert.equal(await limitOf(org1), forUsers);
    assert.equal((await listCostCenterHistory(t.tally.database.db, `team:${org1}`)).length, 1);

    const org2 = await organizationOf(alice);
    assert.equal(await limitOf(org2), forTeams);
    assert.equal((await grants()).filter((grant) => grant.user_id === alice).length, 1);
    // Tally never writes to Gitpod's database.
    assert.deepEqual(await gitpod.rows("SELECT * FROM d_b_free_credits"), []);
  });

  it("counts the email too, case-insensitively: another account with the same email gets the team limit", async () => {
    const carol = await user("carol@example.com");
    assert.equal(await limitOf(await organizationOf(carol)), forUsers);
    const carolAgain = await user("Carol@Example.com");
    assert.equal(await limitOf(await organizationOf(carolAgain)), forTeams);
    assert.equal(await grantOf(carolAgain), undefined);
  });

  it("honours the grants already in d_b_free_credits, by user id and by email", async () => {
    const dave = await user("dave@example.com");
    await gitpod.insertFreeCredits([{ userId: dave, email: "dave@example.com", organizationId: randomUUID() }]);
    assert.equal(await limitOf(await organizationOf(dave)), forTeams);
    assert.equal(await grantOf(dave), undefined);

    const erin = await user("erin@example.com");
    await gitpod.insertFreeCredits([{ userId: randomUUID(), email: "erin@example.com", organizationId: randomUUID() }]);
    assert.equal(await limitOf(await organizationOf(erin)), forTeams);
    assert.equal(await grantOf(erin), undefined);
  });

  it("gives the team limit to an organization without members (deleted memberships do not count)", async () => {
    const frank = await user("frank@example.com");
    const org = randomUUID();
    await gitpod.insertTeamMemberships([{ teamId: org, userId: frank, role: "owner", creationTime: first, deleted: true }]);
    assert.equal(await limitOf(org), forTeams);
    assert.equal(await grantOf(frank), undefined);
    // Frank's free credits are still to be had.
    assert.equal(await limitOf(await organizationOf(frank)), forUsers);
  });

  it("grants a member without any email by user id", async () => {
    const grace = await user("");
    const org = await organizationOf(grace);
    assert.equal(await limitOf(org), forUsers);
    assert.deepEqual(await grantOf(grace), { user_id: grace, email: null, organization_id: org, source: "tally" });
    assert.equal(await limitOf(await organizationOf(grace)), forTeams);
  });

  it("grants once when two organizations of one user are created at the same time", async () => {
    const heidi = await user("heidi@example.com");
    const orgs = await Promise.all(Array.from({ length: 4 }, () => organizationOf(heidi)));
    const limits = await Promise.all(orgs.map((org) => limitOf(org)));
    assert.deepEqual([...limits].sort((a, b) => a - b), [forTeams, forTeams, forTeams, forUsers]);
    assert.equal((await grants()).filter((grant) => grant.user_id === heidi).length, 1);
  });

  it("applies the rule when SetCostCenter creates the cost center, then stores the requested limit", async () => {
    const ivan = await user("ivan@example.com");
    const org = await organizationOf(ivan);
    const { costCenter } = await t.grpc.setCostCenter({ costCenter: { attributionId: `team:${org}`, spendingLimit: 42, billingStrategy: "BILLING_STRATEGY_OTHER" } });
    assert.equal(costCenter.spendingLimit, 42);
    const history = await listCostCenterHistory(t.tally.database.db, `team:${org}`);
    assert.deepEqual(history.map((version) => version.spendingLimitCredits), [42, forUsers]);
    assert.equal((await grantOf(ivan))?.organization_id, org);
  });

  it("leaves user: attribution ids with the user default", async () => {
    assert.equal((await t.grpc.getCostCenter({ attributionId: `user:${randomUUID()}` })).costCenter.spendingLimit, forUsers);
  });
});

describe("Gitpod mode: free credits when Gitpod's database does not answer", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally({
      env: {
        // Nothing listens on port 1: every lookup fails at once.
        TALLY_GITPOD_DATABASE_URL: "mysql://root@127.0.0.1:1/gitpod",
        TALLY_DEFAULT_SPENDING_LIMIT_TEAMS: String(forTeams),
        TALLY_DEFAULT_SPENDING_LIMIT_USERS: String(forUsers),
      },
    });
  });
  after(async () => {
    await t?.stop();
  });

  it("falls back to the team limit and records no grant", async () => {
    const { costCenter } = await t.grpc.getCostCenter({ attributionId: `team:${randomUUID()}` });
    assert.equal(costCenter.spendingLimit, forTeams);
    const [row] = rowsOf<{ count: number }>(await t.tally.database.db.execute(sql`SELECT count(*)::int AS count FROM free_credit_grants`));
    assert.equal(row!.count, 0);
  });
});
