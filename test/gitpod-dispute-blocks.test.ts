// Gitpod mode with TALLY_GITPOD_SERVER_URL: a charge dispute blocks the attribution id in Tally and
// every owner of the organization in Gitpod, through a fake of Gitpod's public API (a Connect
// handler). Owners come from d_b_team_membership in MariaDB. A failed BlockUser is recorded,
// visible (job status, metrics) and retried by the gitpod-blocks job until it succeeds.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { UserService } from "../src/gen/gitpod/experimental/v1/user_pb.js";
import { sql } from "drizzle-orm";
import { rowsOf } from "../src/store/raw-result.js";
import { readJobRun } from "../src/store/job-runs.js";
import { startBillingTally, type BillingTally } from "./support/billing-tally.js";
import { createGitpodTestDatabase, type GitpodTestDatabase } from "./support/gitpod-database.js";

interface BlockCall {
  userId: string;
  reason: string;
}

/** Gitpod's public API, as far as Tally uses it. `failures` answers UNAVAILABLE that many times per user first. */
async function startFakeGitpodServer(): Promise<{ url: string; calls: BlockCall[]; failures: Map<string, number>; close(): Promise<void> }> {
  const calls: BlockCall[] = [];
  const failures = new Map<string, number>();
  const handler = connectNodeAdapter({
    routes(router) {
      router.service(UserService, {
        async blockUser(request) {
          calls.push({ userId: request.userId, reason: request.reason });
          const left = failures.get(request.userId) ?? 0;
          if (left > 0) {
            failures.set(request.userId, left - 1);
            throw new ConnectError("server is restarting", Code.Unavailable);
          }
          return {};
        },
      });
    },
  });
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failures,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("charge disputes in Gitpod mode: owners blocked through Gitpod's public API", () => {
  let gitpod: GitpodTestDatabase;
  let fake: Awaited<ReturnType<typeof startFakeGitpodServer>>;
  let b: BillingTally;

  before(async () => {
    gitpod = await createGitpodTestDatabase();
    fake = await startFakeGitpodServer();
    b = await startBillingTally({ env: { TALLY_GITPOD_DATABASE_URL: gitpod.url, TALLY_GITPOD_SERVER_URL: fake.url } });
  });
  after(async () => {
    await b?.stop();
    await fake?.close();
    await gitpod?.drop();
  });

  async function disputedTeam(owners: string[], others: string[] = []): Promise<{ team: string; disputeId: string }> {
    const org = randomUUID();
    const team = `team:${org}`;
    await gitpod.insertTeamMemberships([
      ...owners.map((userId) => ({ teamId: org, userId, role: "owner", creationTime: new Date("2025-01-01T00:00:00Z") })),
      ...others.map((userId) => ({ teamId: org, userId, role: "member", creationTime: new Date("2025-01-02T00:00:00Z") })),
    ]);
    const { customer } = await b.billing.createStripeCustomer({ attributionId: team, name: "Acme", email: "billing@acme.test", currency: "EUR" });
    // Only money that moved can be disputed (a released hold cannot): a paid charge of the customer.
    await b.stripe.paymentIntents.create({ amount: 1300, currency: "eur", customer: customer.id as string, payment_method: "pm_card_visa", confirm: true });
    const charge = b.emulator.charges(customer.id as string).find((c) => c.captured);
    const dispute = b.emulator.disputeCharge(charge!.id as string);
    return { team, disputeId: dispute.id as string };
  }

  async function blocksOf(disputeId: string) {
    return rowsOf<{ user_id: string; status: string; attempts: number; last_error: string | null }>(
      await b.t.tally.database.db.execute(
        sql`SELECT user_id, status, attempts, last_error FROM gitpod_user_blocks WHERE dispute_id = ${disputeId} ORDER BY user_id`,
      ),
    );
  }

  it("blocks the team in Tally and every owner (not the members) in Gitpod, with the usage component's reason, once", async () => {
    const owners = [randomUUID(), randomUUID()].sort();
    const member = randomUUID();
    const { team, disputeId } = await disputedTeam(owners, [member]);
    await b.settle(); // the webhook path: charge.dispute.created -> inbox -> OnChargeDispute
    assert.equal((await b.accounts.getAccountStatus({ attributionId: team })).blocked, true);
    assert.deepEqual(
      fake.calls.filter((call) => call.reason.endsWith(disputeId)).sort((x, y) => x.userId.localeCompare(y.userId)),
      owners.map((userId) => ({ userId, reason: `User has created a Stripe dispute ID: ${disputeId}` })),
    );
    assert.deepEqual(
      (await blocksOf(disputeId)).map((row) => [row.user_id, row.status]),
      owners.map((userId) => [userId, "blocked"]),
    );
    // The RPC again (as Gitpod's server calls it) and a redelivery: nobody is blocked twice.
    const callsBefore = fake.calls.length;
    await b.billing.onChargeDispute({ disputeId });
    await b.settle();
    await b.t.tally.jobs.runOnce("gitpod-blocks");
    assert.equal(fake.calls.length, callsBefore);
  });

  it("records a failed block, shows it (job status, metrics) and retries it until Gitpod accepts it; Tally's own block stands", async () => {
    const owner = randomUUID();
    fake.failures.set(owner, 2);
    const { team, disputeId } = await disputedTeam([owner]);
    await b.settle();
    assert.equal((await b.accounts.getAccountStatus({ attributionId: team })).blocked, true);
    let [row] = await blocksOf(disputeId);
    assert.equal(row!.status, "pending");
    assert.equal(row!.attempts, 1);
    assert.match(row!.last_error!, /^Unavailable: server is restarting/);

    // Not due yet: the run does nothing. After the backoff it tries again, fails, and says so.
    let outcome = await b.t.tally.jobs.runOnce("gitpod-blocks");
    assert.ok(outcome.ran && outcome.ok);
    b.t.clock.advanceMs(31_000);
    outcome = await b.t.tally.jobs.runOnce("gitpod-blocks");
    assert.ok(outcome.ran && !outcome.ok);
    const run = await readJobRun(b.t.tally.database.db, "gitpod-blocks");
    assert.match(run?.lastError ?? "", new RegExp(`1 Gitpod blocks failed and are retried .*first BlockUser ${owner} \\(dispute ${disputeId}\\): Unavailable: server is restarting`));
    const metrics = await (await fetch(`${b.t.tally.url}/metrics`)).text();
    assert.match(metrics, /^tally_gitpod_user_blocks_pending\{what="users"\} 1$/m);
    assert.match(metrics, /^tally_gitpod_block_failures_total\{step="block_user"\} 2$/m);

    b.t.clock.advanceMs(61_000);
    outcome = await b.t.tally.jobs.runOnce("gitpod-blocks");
    assert.ok(outcome.ran && outcome.ok);
    [row] = await blocksOf(disputeId);
    assert.equal(row!.status, "blocked");
    assert.equal(row!.attempts, 3);
    assert.equal(row!.last_error, null);
    assert.equal(fake.calls.filter((call) => call.userId === owner).length, 3);
    assert.match(await (await fetch(`${b.t.tally.url}/metrics`)).text(), /^tally_gitpod_user_blocks_pending\{what="users"\} 0$/m);
  });
});
