// The ledger job and ReconcileUsage, driven with a ManualClock: drafts that grow and become final,
// instances that start and stop between runs or during downtime, prices, windows and job status.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { eq } from "drizzle-orm";
import { JobScheduler } from "../src/jobs/job-scheduler.js";
import { silentLogger } from "../src/logger.js";
import { getBalanceCents } from "../src/store/balances.js";
import { sumLedgerCents } from "../src/store/ledger.js";
import { readJobRun } from "../src/store/job-runs.js";
import { usage } from "../src/store/schema.js";
import { teamId, userId as userAttributionId } from "./support/ledger-fixtures.js";
import { instanceClient, instanceReport, ts, type InstanceClient, type InstanceSpec } from "./support/instances.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;

describe("ledger job and ReconcileUsage", () => {
  let t: TestTally;
  let client: InstanceClient;
  before(async () => {
    // g1-standard costs 0.6 credits a minute: exactly 1 credit cent per second.
    t = await startTestTally({ env: { TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify({ "g1-standard": 0.6 }) } });
    client = instanceClient(t);
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });

  const at = (offsetMs: number) => new Date(t.clock.now().getTime() + offsetMs);
  const report = async (...specs: InstanceSpec[]) => {
    const instances = specs.map((spec) => instanceReport({ id: randomUUID(), ...spec }));
    await client.methods.upsertWorkspaceInstances({ instances });
    return instances.map((instance) => instance.id as string);
  };
  const runLedger = async () => {
    const outcome = await t.tally.jobs.runOnce("ledger");
    assert.ok(outcome.ran && outcome.ok, `ledger run failed: ${JSON.stringify(outcome, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
    return outcome;
  };
  const entriesOf = (instanceId: string) =>
    t.tally.database.db.select().from(usage).where(eq(usage.workspaceInstanceId, instanceId));
  const onlyEntryOf = async (instanceId: string) => {
    const entries = await entriesOf(instanceId);
    assert.equal(entries.length, 1, `instance ${instanceId} has ${entries.length} entries`);
    return entries[0]!;
  };
  const assertBalanceMatchesLedger = async (attributionId: string) => {
    const db = t.tally.database.db;
    assert.equal(await getBalanceCents(db, attributionId), await sumLedgerCents(db, attributionId), `balance of ${attributionId}`);
  };

  it("keeps one draft that grows while an instance runs across ledger runs, then makes it final with the exact credits", async () => {
    const team = teamId();
    const started = at(-30 * second);
    const [id] = await report({ attributionId: team, workspaceClass: "g1-standard", startedTime: started });
    await runLedger();
    const first = await onlyEntryOf(id!);
    assert.equal(first.draft, true);
    assert.equal(first.creditCents, 30n);
    assert.deepEqual(first.effectiveTime, t.clock.now());

    t.clock.advanceMs(minute);
    await runLedger();
    const second_ = await onlyEntryOf(id!);
    assert.equal(second_.id, first.id);
    assert.equal(second_.draft, true);
    assert.equal(second_.creditCents, 90n);
    assert.deepEqual(second_.effectiveTime, t.clock.now());

    t.clock.advanceMs(minute);
    await runLedger();
    assert.equal((await onlyEntryOf(id!)).creditCents, 150n);
    assert.equal(await getBalanceCents(t.tally.database.db, team), 150n);

    // It stops 170.4 s after starting; the report arrives 20 s later.
    const stopping = new Date(started.getTime() + 170_400);
    t.clock.advanceMs(minute);
    await report({ id, attributionId: team, startedTime: started, stoppingTime: stopping, stoppedTime: new Date(stopping.getTime() + 5 * second) });
    await runLedger();
    const final = await onlyEntryOf(id!);
    assert.equal(final.id, first.id);
    assert.equal(final.draft, false);
    assert.equal(final.creditCents, 170n, "whole seconds of runtime at 1 cent a second");
    assert.deepEqual(final.effectiveTime, stopping);
    assert.equal(await getBalanceCents(t.tally.database.db, team), 170n);

    // Final entries never change again.
    t.clock.advanceMs(minute);
    const outcome = await runLedger();
    assert.equal((await onlyEntryOf(id!)).creditCents, 170n);
    assert.ok(outcome.ran && outcome.ok);
    await assertBalanceMatchesLedger(team);
  });

  it("books an instance that starts and stops between two runs", async () => {
    await runLedger();
    const team = teamId();
    const [id] = await report({
      attributionId: team,
      workspaceClass: "g1-standard",
      startedTime: at(10 * second),
      stoppingTime: at(40 * second),
      stoppedTime: at(41 * second),
    });
    t.clock.advanceMs(minute);
    await runLedger();
    const entry = await onlyEntryOf(id!);
    assert.equal(entry.draft, false);
    assert.equal(entry.creditCents, 30n);
    await assertBalanceMatchesLedger(team);
  });

  it("books everything that happened during hours of downtime, and stops reported late", async () => {
    await runLedger();
    const team = teamId();
    const downtimeStart = t.clock.now();
    // Reports keep arriving while no ledger job runs for five hours.
    t.clock.advanceMs(2 * hour);
    const [stoppedDuringDowntime] = await report({
      attributionId: team,
      workspaceClass: "g1-standard",
      startedTime: at(-hour),
      stoppingTime: at(-1 * minute),
      stoppedTime: at(-1 * minute),
    });
    t.clock.advanceMs(hour);
    const [runningSinceDowntime] = await report({ attributionId: team, workspaceClass: "g1-standard", startedTime: at(0) });
    t.clock.advanceMs(2 * hour);
    // A stop from three days ago, reported only now (outside any window by its stop time).
    const [reportedLate] = await report({
      attributionId: team,
      workspaceClass: "g1-standard",
      startedTime: at(-3 * day),
      stoppingTime: at(-3 * day + 10 * minute),
      stoppedTime: at(-3 * day + 10 * minute),
    });
    t.clock.advanceMs(second);
    assert.equal(t.clock.now().getTime() - downtimeStart.getTime(), 5 * hour + second);
    await runLedger();
    assert.equal((await onlyEntryOf(stoppedDuringDowntime!)).creditCents, BigInt(hour - minute) / 1000n);
    const running = await onlyEntryOf(runningSinceDowntime!);
    assert.equal(running.draft, true);
    assert.equal(running.creditCents, BigInt(2 * hour + second) / 1000n);
    assert.equal((await onlyEntryOf(reportedLate!)).creditCents, 600n);
    await assertBalanceMatchesLedger(team);
  });

  it("prices unknown and missing workspace classes at the default 1/6 credit per minute", async () => {
    const team = teamId();
    const ids = await report(
      { attributionId: team, workspaceClass: "no-such-class", startedTime: at(-6 * minute), stoppedTime: at(0) },
      { attributionId: team, startedTime: at(-6 * minute), stoppedTime: at(0) },
      // 9 s at 1/6 credit a minute is 2.5 cents: rounded half away from zero.
      { attributionId: team, workspaceClass: "other", startedTime: at(-9 * second), stoppedTime: at(0) },
    );
    t.clock.advanceMs(minute);
    await runLedger();
    assert.equal((await onlyEntryOf(ids[0]!)).creditCents, 100n);
    assert.equal((await onlyEntryOf(ids[1]!)).creditCents, 100n);
    assert.equal((await onlyEntryOf(ids[2]!)).creditCents, 3n);
  });

  it("skips instances without a started time or an attribution id, and books them once both arrive", async () => {
    const team = teamId();
    const [unstarted, unattributed] = await report({ attributionId: team }, { startedTime: at(-minute) });
    t.clock.advanceMs(minute);
    await runLedger();
    assert.equal((await entriesOf(unstarted!)).length, 0);
    assert.equal((await entriesOf(unattributed!)).length, 0);
    await report({ id: unattributed, attributionId: team, workspaceClass: "g1-standard" });
    t.clock.advanceMs(minute);
    await runLedger();
    const entry = await onlyEntryOf(unattributed!);
    assert.equal(entry.creditCents, 180n);
    assert.equal(entry.attributionId, team);
  });

  it("moves a draft and its balance when the instance's attribution id changes", async () => {
    const [from, to] = [teamId(), teamId()];
    const [id] = await report({ attributionId: from, workspaceClass: "g1-standard", startedTime: at(-100 * second) });
    await runLedger();
    assert.equal(await getBalanceCents(t.tally.database.db, from), 100n);
    await report({ id, attributionId: to });
    t.clock.advanceMs(10 * second);
    await runLedger();
    const entry = await onlyEntryOf(id!);
    assert.equal(entry.attributionId, to);
    assert.equal(entry.creditCents, 110n);
    assert.equal(await getBalanceCents(t.tally.database.db, from), 0n);
    assert.equal(await getBalanceCents(t.tally.database.db, to), 110n);
    await assertBalanceMatchesLedger(from);
    await assertBalanceMatchesLedger(to);
  });

  it("writes Gitpod's metadata and lists the entry by user", async () => {
    const team = teamId();
    const owner = randomUUID();
    const started = at(-2 * minute);
    const stopped = at(-minute);
    const [id] = await report({
      attributionId: team,
      userId: owner,
      workspaceClass: "g1-standard",
      workspaceType: "prebuild",
      creationTime: at(-3 * minute),
      startedTime: started,
      stoppingTime: stopped,
      stoppedTime: at(-minute + 2 * second),
      contextUrl: "https://github.com/gitpod-io/gitpod/pull/1",
      userName: "Ada",
    });
    await runLedger();
    const entry = await onlyEntryOf(id!);
    assert.equal(entry.description, "Usage collected by automated system.");
    assert.deepEqual(entry.metadata, {
      workspaceId: `ws-${id!.slice(0, 8)}`,
      workspaceType: "prebuild",
      workspaceClass: "g1-standard",
      contextURL: "https://github.com/gitpod-io/gitpod/pull/1",
      creationTime: at(-3 * minute).toISOString(),
      startTime: started.toISOString(),
      endTime: stopped.toISOString(),
      stoppedTime: at(-minute + 2 * second).toISOString(),
      userId: owner,
      userName: "Ada",
      userAvatarURL: "",
    });
    const listed = await t.grpc.listUsage({ attributionId: team, userId: owner, to: ts(at(1)) });
    assert.equal(listed.usageEntries.length, 1);
    assert.equal(listed.usageEntries[0].workspaceInstanceId, id);
    assert.equal(listed.usageEntries[0].kind, "KIND_WORKSPACE_INSTANCE");
    assert.equal(listed.usageEntries[0].credits, 0.6);
    assert.equal(JSON.parse(listed.usageEntries[0].metadata).userId, owner);
  });

  it("ReconcileUsage books instances that stopped in [from, to) and leaves older ones alone", async () => {
    const team = teamId();
    const now = t.clock.now();
    const [inWindow, beforeWindow, atEnd] = await report(
      { attributionId: team, workspaceClass: "g1-standard", startedTime: at(-2 * day - minute), stoppedTime: at(-2 * day) },
      { attributionId: team, workspaceClass: "g1-standard", startedTime: at(-9 * day - minute), stoppedTime: at(-9 * day) },
      { attributionId: team, workspaceClass: "g1-standard", startedTime: at(-day - minute), stoppedTime: at(-day) },
    );
    const window = { from: ts(new Date(now.getTime() - 3 * day)), to: ts(new Date(now.getTime() - day)) };
    await t.grpc.reconcileUsage(window);
    assert.equal((await onlyEntryOf(inWindow!)).creditCents, 60n);
    assert.equal((await entriesOf(beforeWindow!)).length, 0);
    assert.equal((await entriesOf(atEnd!)).length, 0, "to is exclusive");
    // Running it again books nothing new.
    await t.grpc.reconcileUsage(window);
    assert.equal((await entriesOf(inWindow!)).length, 1);
    await assertBalanceMatchesLedger(team);
  });

  it("records each run's last success and duration, readable through status()", async () => {
    t.clock.advanceMs(minute);
    const before = (await readJobRun(t.tally.database.db, "ledger"))!;
    const outcome = await runLedger();
    const row = (await readJobRun(t.tally.database.db, "ledger"))!;
    assert.deepEqual(row.lastSuccessAt, t.clock.now());
    assert.equal(row.runsSucceeded, before.runsSucceeded + 1n);
    assert.ok(outcome.ran && outcome.ok && row.lastDurationMs === outcome.durationMs);
    const status = await t.tally.jobs.status();
    const ledger = status.find((job) => job.name === "ledger")!;
    assert.deepEqual(ledger.lastSuccessAt, t.clock.now());
    assert.equal(ledger.intervalMs, 60_000);
    assert.equal(ledger.running, false);
    assert.deepEqual(status.map((job) => job.name).sort(), ["idempotency-keys", "ledger", "reset"]);
  });

  it("records a failing job's error without moving its last success", async () => {
    const jobs = new JobScheduler({
      database: t.tally.database,
      clock: t.clock,
      logger: silentLogger,
      replica: "test",
      jobs: [
        {
          name: `broken-${randomUUID()}`,
          intervalMs: 1000,
          run: async () => {
            throw new Error("the database said no");
          },
        },
      ],
    });
    const outcome = await jobs.runOnce(jobs.jobNames[0]!);
    assert.ok(outcome.ran && !outcome.ok);
    const [status] = await jobs.status();
    assert.equal(status!.lastError, "the database said no");
    assert.deepEqual(status!.lastFailureAt, t.clock.now());
    assert.equal(status!.lastSuccessAt, undefined);
    assert.equal(status!.runsFailed, 1n);
  });

  it("skips a timer tick when another replica ran the job less than an interval ago, so N replicas do not run it N times as often", async () => {
    const name = `shared-${randomUUID()}`;
    const runs: string[] = [];
    const replica = (id: string) =>
      new JobScheduler({
        database: t.tally.database,
        clock: t.clock,
        logger: silentLogger,
        replica: id,
        jobs: [{ name, intervalMs: 60_000, run: async () => (runs.push(id), {}) }],
      });
    const a = replica("a");
    const b = replica("b");
    assert.equal((await a.runIfDue(name)).ran, true);
    assert.deepEqual(await b.runIfDue(name), { ran: false, reason: "ran recently on another replica" });
    t.clock.advanceMs(30_000);
    assert.deepEqual(await b.runIfDue(name), { ran: false, reason: "ran recently on another replica" });
    assert.equal((await b.runOnce(name)).ran, true, "an explicit run is never skipped");
    t.clock.advanceMs(60_000);
    assert.equal((await a.runIfDue(name)).ran, true, "a is due again: b's last run started an interval ago");
    assert.deepEqual(runs, ["a", "b", "a"]);
  });

  it("runs started jobs on their interval until stopped", async () => {
    let runs = 0;
    const jobs = new JobScheduler({
      database: t.tally.database,
      clock: t.clock,
      logger: silentLogger,
      replica: "test",
      jobs: [{ name: `tick-${randomUUID()}`, intervalMs: 20, run: async () => ({ run: ++runs }) }],
    });
    jobs.start();
    const deadline = Date.now() + 10_000;
    while (runs < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await jobs.stop();
    const seen = runs;
    assert.ok(seen >= 3, `ran only ${seen} times in 10 s at a 20 ms interval`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(runs, seen, "no runs after stop()");
  });

  it("asks a running job to stop when the scheduler stops, and records the run as failed", async () => {
    let sawAbort = false;
    const jobs = new JobScheduler({
      database: t.tally.database,
      clock: t.clock,
      logger: silentLogger,
      replica: "test",
      jobs: [
        {
          name: `long-${randomUUID()}`,
          intervalMs: 60_000,
          run: ({ signal }) =>
            new Promise((_resolve, reject) => {
              const onAbort = () => {
                sawAbort = true;
                reject(signal.reason);
              };
              // On a loaded machine stop() may come before the run began: the signal is then already aborted.
              if (signal.aborted) onAbort();
              else signal.addEventListener("abort", onAbort);
            }),
        },
      ],
    });
    const run = jobs.runOnce(jobs.jobNames[0]!);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await jobs.stop();
    const outcome = await run;
    assert.ok(sawAbort && outcome.ran && !outcome.ok);
    assert.equal((await jobs.status())[0]!.lastError, "the scheduler is stopping");
    // A reconcile asked to stop writes nothing more.
    await assert.rejects(t.tally.reconciler.reconcile(at(-day), at(0), AbortSignal.abort(new Error("stop"))), /stop/);
  });

  it("the reset job closes expired cycles of cost centers billed OTHER", async () => {
    const user = userAttributionId();
    await t.grpc.getCostCenter({ attributionId: user });
    const [id] = await report({ attributionId: user, workspaceClass: "g1-standard", startedTime: at(-201 * second), stoppedTime: at(-second) });
    await runLedger();
    assert.equal((await onlyEntryOf(id!)).creditCents, 200n);
    t.clock.advanceMs(32 * day);
    const outcome = await t.tally.jobs.runOnce("reset");
    assert.ok(outcome.ran && outcome.ok && (outcome.summary.reset as number) >= 1);
    assert.equal(await getBalanceCents(t.tally.database.db, user), 0n);
    await assertBalanceMatchesLedger(user);
  });
});
