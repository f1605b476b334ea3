// The Gitpod source: Tally in Gitpod mode reads workspace instances from Gitpod's database (MariaDB,
// through a TCP forwarder that can be switched off) and books them exactly as a standalone Tally books the same instances
// reported through the API. Both servers share one ManualClock.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { sql } from "drizzle-orm";
import { ManualClock } from "../src/domain/clock.js";
import { GitpodInstanceSource, type GitpodSyncSummary } from "../src/gitpod/gitpod-source.js";
import { openGitpodDatabase } from "../src/gitpod/gitpod-database.js";
import { buildPriceTable } from "../src/domain/pricing.js";
import { UsageReconciler } from "../src/services/usage-reconciler.js";
import { rowsOf } from "../src/store/raw-result.js";
import { readJobRun } from "../src/store/job-runs.js";
import { createGitpodTestDatabase, gitpodTime, type GitpodTestDatabase } from "./support/gitpod-database.js";
import { TcpSwitch } from "./support/tcp-switch.js";
import { instanceClient, ts, type InstanceClient } from "./support/instances.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const prices = { "g1-standard": 0.6, default: 0.3 };

interface Spec {
  id?: string;
  attributionId: string;
  workspaceClass?: string;
  creationTime?: Date;
  startedTime?: Date;
  stoppingTime?: Date;
  stoppedTime?: Date;
  phase?: string;
  ownerId?: string;
  userName?: string;
  avatarUrl?: string;
  workspaceType?: string;
  contextURL?: string;
  projectId?: string;
}

interface EntryRow {
  source_key: string;
  attribution_id: string;
  kind: string;
  description: string;
  credit_cents: string;
  effective_time: string;
  draft: boolean;
  workspace_instance_id: string | null;
  metadata: Record<string, unknown>;
}

async function entriesOf(t: TestTally, ids?: readonly string[]): Promise<EntryRow[]> {
  const result = await t.tally.database.db.execute(sql`
    SELECT source_key, attribution_id, kind, description, credit_cents::text AS credit_cents,
      to_char(effective_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS effective_time, draft,
      workspace_instance_id::text AS workspace_instance_id, metadata
    FROM usage ${ids ? sql`WHERE workspace_instance_id = ANY(${sql.param(ids)}::uuid[])` : sql``}
    ORDER BY source_key`);
  return rowsOf<EntryRow>(result).map((row) => ({ ...row, metadata: typeof row.metadata === "string" ? JSON.parse(row.metadata) : row.metadata }));
}

async function balanceOf(t: TestTally, attributionId: string): Promise<{ balance: bigint; sum: bigint; entries: number }> {
  const result = await t.tally.database.db.execute(sql`
    SELECT coalesce((SELECT balance_cents FROM balances WHERE attribution_id = ${attributionId}), 0)::text AS balance,
      coalesce((SELECT sum(credit_cents) FROM usage WHERE attribution_id = ${attributionId}), 0)::text AS sum,
      (SELECT count(*) FROM usage WHERE attribution_id = ${attributionId})::int AS entries`);
  const [row] = rowsOf<{ balance: string; sum: string; entries: number }>(result);
  return { balance: BigInt(row!.balance), sum: BigInt(row!.sum), entries: Number(row!.entries) };
}

describe("Gitpod source (Gitpod's database read by the ledger job and ReconcileUsage)", () => {
  const clock = new ManualClock(new Date("2026-01-15T12:00:00Z"));
  let gitpod: GitpodTestDatabase;
  let proxy: TcpSwitch;
  let g: TestTally;
  let s: TestTally;
  let sClient: InstanceClient;
  let gClient: InstanceClient;

  before(async () => {
    gitpod = await createGitpodTestDatabase();
    proxy = await TcpSwitch.start({ host: "127.0.0.1", port: Number(new URL(gitpod.url).port || 3306) });
    const env = { TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify(prices) };
    g = await startTestTally({
      clock,
      env: { ...env, TALLY_GITPOD_DATABASE_URL: proxy.urlFor(gitpod.url), TALLY_DATABASE_CONNECT_TIMEOUT: "2s" },
    });
    s = await startTestTally({ clock, env });
    sClient = instanceClient(s);
    gClient = instanceClient(g);
  });
  after(async () => {
    sClient?.close();
    gClient?.close();
    await g?.stop();
    await s?.stop();
    await proxy?.close();
    await gitpod?.drop();
  });

  const at = (offsetMs: number) => new Date(clock.now().getTime() + offsetMs);

  /** Writes instances into Gitpod's tables the way Gitpod does. */
  async function inGitpod(...specs: Spec[]): Promise<string[]> {
    const rows = specs.map((spec) => ({ ...spec, id: spec.id ?? randomUUID(), workspaceId: `ws-${randomUUID().slice(0, 18)}`, ownerId: spec.ownerId ?? randomUUID() }));
    await gitpod.insertInstances(
      rows.map((row) => ({
        id: row.id,
        workspaceId: row.workspaceId,
        usageAttributionId: row.attributionId,
        workspaceClass: row.workspaceClass ?? "",
        creationTime: row.creationTime,
        startedTime: row.startedTime,
        stoppingTime: row.stoppingTime,
        stoppedTime: row.stoppedTime,
        phasePersisted: row.phase,
        ownerId: row.ownerId,
        projectId: row.projectId ?? null,
        workspaceType: row.workspaceType,
        contextURL: row.contextURL ?? `https://github.com/gitpod-io/${row.id.slice(0, 8)}`,
      })),
    );
    await gitpod.insertUsers(rows.map((row) => ({ id: row.ownerId, name: row.userName ?? "", avatarUrl: row.avatarUrl ?? "" })));
    return rows.map((row) => row.id);
  }

  /** Reports to the standalone Tally what Gitpod's rows say ('' class is `default`). */
  async function reportStandalone(ids: readonly string[]): Promise<void> {
    const rows = await gitpod.rows<Record<string, string | null>>(
      `SELECT wsi.*, ws.ownerId, ws.projectId, ws.contextURL, ws.type, u.name, u.avatarUrl FROM d_b_workspace_instance wsi
        JOIN d_b_workspace ws ON ws.id = wsi.workspaceId JOIN d_b_user u ON u.id = ws.ownerId WHERE wsi.id IN (?)`,
      [ids],
    );
    const time = (value: string | null | undefined) => (value ? ts(new Date(value)) : undefined);
    await sClient.methods.upsertWorkspaceInstances({
      instances: rows.map((row) => ({
        id: row.id,
        workspaceId: row.workspaceId,
        attributionId: row.usageAttributionId,
        userId: row.ownerId,
        workspaceClass: row.workspaceClass || "default",
        workspaceType: row.type,
        creationTime: time(row.creationTime),
        startedTime: time(row.startedTime),
        stoppingTime: time(row.stoppingTime),
        stoppedTime: time(row.stoppedTime),
        projectId: row.projectId ?? "",
        contextUrl: row.contextURL,
        userName: row.name,
        userAvatarUrl: row.avatarUrl,
      })),
    });
  }

  async function ledgerRunOnBoth(): Promise<Record<string, unknown>> {
    const [gRun, sRun] = await Promise.all([g.tally.jobs.runOnce("ledger"), s.tally.jobs.runOnce("ledger")]);
    assert.ok(gRun.ran && gRun.ok, `Gitpod-mode ledger run failed: ${gRun.ran && !gRun.ok ? String(gRun.error) : "did not run"}`);
    assert.ok(sRun.ran && sRun.ok);
    return gRun.summary;
  }

  it("books stopped, running and drafted instances exactly as the standalone path books them", async () => {
    const team = `team:${randomUUID()}`;
    const ids = await inGitpod(
      // stopped in the window, with every field
      {
        attributionId: team,
        workspaceClass: "g1-standard",
        creationTime: at(-3 * hour - minute),
        startedTime: at(-3 * hour),
        stoppingTime: at(-2 * hour),
        stoppedTime: at(-2 * hour + 10 * second),
        userName: "Ada",
        avatarUrl: "https://avatars.example/ada.png",
        projectId: randomUUID(),
      },
      // running: a draft that grows, then stops inside the next window
      { attributionId: team, workspaceClass: "g1-standard", creationTime: at(-hour), startedTime: at(-hour), phase: "running", userName: "Bob" },
      // running, '' class (the class `default`), no creation time; stops before the next window: only the drafts selection meets it
      { attributionId: team, startedTime: at(-30 * minute), phase: "running", workspaceType: "prebuild" },
      // stopping: a stopping time but no stopped time yet (a draft with its end)
      { attributionId: team, workspaceClass: "g1-standard", startedTime: at(-20 * minute), stoppingTime: at(-5 * minute), phase: "stopping" },
    );
    await reportStandalone(ids);
    const first = await ledgerRunOnBoth();
    const sourced = first.source as GitpodSyncSummary;
    assert.equal(sourced.refused, 0);
    assert.ok(sourced.read >= 4, `read ${sourced.read}`);
    const gEntries = await entriesOf(g, ids);
    assert.equal(gEntries.length, 4);
    assert.deepEqual(gEntries, await entriesOf(s, ids));
    const stopped = gEntries.find((entry) => entry.workspace_instance_id === ids[0])!;
    assert.equal(stopped.draft, false);
    assert.equal(stopped.credit_cents, String(3600));
    assert.deepEqual(stopped.metadata, {
      workspaceId: stopped.metadata.workspaceId,
      workspaceType: "regular",
      workspaceClass: "g1-standard",
      contextURL: `https://github.com/gitpod-io/${ids[0]!.slice(0, 8)}`,
      creationTime: at(-3 * hour - minute).toISOString(),
      startTime: at(-3 * hour).toISOString(),
      endTime: at(-2 * hour).toISOString(),
      stoppedTime: at(-2 * hour + 10 * second).toISOString(),
      userId: stopped.metadata.userId,
      userName: "Ada",
      userAvatarURL: "https://avatars.example/ada.png",
    });
    const defaultClass = gEntries.find((entry) => entry.workspace_instance_id === ids[2])!;
    assert.equal(defaultClass.draft, true);
    assert.equal(defaultClass.metadata.workspaceClass, "default");
    assert.equal(defaultClass.metadata.creationTime, "");
    assert.equal(defaultClass.metadata.workspaceType, "prebuild");

    // Ten minutes later: one stops in the window, one stopped long before it (only its draft finds it).
    const firstRunAt = clock.now();
    clock.advanceMs(10 * minute);
    await gitpod.execute(`UPDATE d_b_workspace_instance SET stoppingTime = ?, stoppedTime = ?, phasePersisted = 'stopped' WHERE id = ?`, [
      gitpodTime(at(-2 * minute)),
      gitpodTime(at(-minute)),
      ids[1],
    ]);
    await gitpod.execute(`UPDATE d_b_workspace_instance SET stoppingTime = ?, stoppedTime = ?, phasePersisted = 'stopped' WHERE id = ?`, [
      gitpodTime(new Date(firstRunAt.getTime() - 20 * minute)),
      gitpodTime(new Date(firstRunAt.getTime() - 19 * minute)),
      ids[2],
    ]);
    await gitpod.execute(`UPDATE d_b_workspace_instance SET stoppedTime = ?, phasePersisted = 'stopped' WHERE id = ?`, [gitpodTime(at(-minute)), ids[3]]);
    await reportStandalone(ids);
    await ledgerRunOnBoth();
    const later = await entriesOf(g, ids);
    assert.deepEqual(later, await entriesOf(s, ids));
    assert.deepEqual(
      later.map((entry) => entry.draft),
      [false, false, false, false],
    );
    const team_ = await balanceOf(g, team);
    assert.equal(team_.balance, team_.sum);
    assert.equal(team_.entries, 4);

    // ReconcileUsage (the RPC) goes through the same source: nothing new, nothing twice.
    await g.usage.reconcileUsage({ from: timestampFromDate(at(-3 * hour)), to: timestampFromDate(clock.now()) });
    assert.deepEqual(await entriesOf(g, ids), later);
  });

  it("leaves out soft-deleted rows and unbillable instances, and lists the ones Tally refuses with the reason", async () => {
    const team = `team:${randomUUID()}`;
    // Stops after the last run (the ledger window starts there): Gitpod writes a stop when it happens.
    const base = { attributionId: team, workspaceClass: "g1-standard", startedTime: at(-30 * minute), stoppingTime: at(-2 * minute), stoppedTime: at(-2 * minute) };
    const [deleted, deletedWorkspace, deletedUser, neverStarted, unattributed, badTime, probe] = await inGitpod(
      base,
      { ...base, userName: "Gone workspace" },
      { ...base, userName: "Gone user" },
      { ...base, startedTime: undefined },
      { ...base, attributionId: "" },
      base,
      { ...base, workspaceType: "probe" },
    );
    await gitpod.execute("UPDATE d_b_workspace_instance SET deleted = 1 WHERE id = ?", [deleted]);
    await gitpod.execute("UPDATE d_b_workspace SET deleted = 1 WHERE id = (SELECT workspaceId FROM d_b_workspace_instance WHERE id = ?)", [deletedWorkspace]);
    await gitpod.execute(
      "UPDATE d_b_user SET deleted = 1 WHERE id = (SELECT ownerId FROM d_b_workspace WHERE id = (SELECT workspaceId FROM d_b_workspace_instance WHERE id = ?))",
      [deletedUser],
    );
    await gitpod.execute("UPDATE d_b_workspace_instance SET stoppingTime = 'yesterday' WHERE id = ?", [badTime]);
    clock.advanceMs(minute);
    const run = await g.tally.jobs.runOnce("ledger");
    assert.ok(run.ran && run.ok);
    const sourced = run.summary.source as GitpodSyncSummary;
    const entries = await entriesOf(g, [deleted!, deletedWorkspace!, deletedUser!, neverStarted!, unattributed!, badTime!, probe!]);
    assert.deepEqual(
      entries.map((entry) => entry.workspace_instance_id).sort(),
      [deletedWorkspace!, deletedUser!].sort(),
      "only the instances whose workspace or user is deleted are booked (as found)",
    );
    const ofWorkspace = entries.find((entry) => entry.workspace_instance_id === deletedWorkspace)!;
    assert.equal(ofWorkspace.metadata.userId, "", "a deleted workspace is not found: no owner");
    assert.equal(ofWorkspace.metadata.contextURL, "");
    assert.equal(ofWorkspace.credit_cents, String(28 * 60));
    const ofUser = entries.find((entry) => entry.workspace_instance_id === deletedUser)!;
    assert.equal(ofUser.metadata.userName, "");
    assert.notEqual(ofUser.metadata.userId, "");
    // 'yesterday' is not in the stopping-time window (string order), so only the probe is refused here.
    assert.equal(sourced.refused, 1);
    assert.equal(sourced.refusedExamples[0]!.id, probe);
    assert.match(sourced.refusedExamples[0]!.reason, /workspace_type "probe"/);
    // A bad time string in a selected row is refused with the column named.
    await gitpod.execute("UPDATE d_b_workspace_instance SET stoppingTime = '', startedTime = 'soon', phasePersisted = 'running' WHERE id = ?", [badTime]);
    await gitpod.execute("UPDATE d_b_workspace_instance SET startedTime = ?, stoppingTime = '' WHERE id = ?", [gitpodTime(at(-hour)), probe]);
    const again = await g.tally.jobs.runOnce("ledger");
    assert.ok(again.ran && again.ok);
    const refused = (again.summary.source as GitpodSyncSummary).refusedExamples;
    assert.ok(
      refused.some((item) => item.id === badTime && /startedTime "soon" is not a time/.test(item.reason)),
      JSON.stringify(refused),
    );
  });

  it("books an instance seen through both the API and Gitpod's database once", async () => {
    const team = `team:${randomUUID()}`;
    const id = randomUUID();
    const spec = { id, attributionId: team, workspaceClass: "g1-standard", startedTime: at(-10 * minute), stoppingTime: at(-5 * minute), stoppedTime: at(-5 * minute) };
    await inGitpod(spec);
    await gClient.methods.upsertWorkspaceInstances({
      instances: [
        {
          id,
          workspaceId: "ws-from-the-api",
          attributionId: team,
          workspaceClass: "g1-standard",
          startedTime: ts(spec.startedTime),
          stoppingTime: ts(spec.stoppingTime),
          stoppedTime: ts(spec.stoppedTime),
        },
      ],
    });
    clock.advanceMs(minute);
    assert.ok((await g.tally.jobs.runOnce("ledger")).ran);
    await g.usage.reconcileUsage({ from: timestampFromDate(at(-hour)), to: timestampFromDate(clock.now()) });
    assert.ok((await g.tally.jobs.runOnce("ledger")).ran);
    const entries = await entriesOf(g, [id]);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.credit_cents, String(5 * 60));
    const team_ = await balanceOf(g, team);
    assert.deepEqual(team_, { balance: 300n, sum: 300n, entries: 1 });
  });

  it("fails the ledger run cleanly while Gitpod's database is unreachable (job status, /readyz, metrics), then catches up", async () => {
    const team = `team:${randomUUID()}`;
    const [early] = await inGitpod({ attributionId: team, workspaceClass: "g1-standard", startedTime: at(-10 * minute), stoppingTime: at(-2 * minute), stoppedTime: at(-2 * minute) });
    clock.advanceMs(minute);
    assert.ok((await g.tally.jobs.runOnce("ledger")).ran);
    await proxy.down();
    try {
      // While it is down, an instance stops.
      const [during] = await inGitpod({ attributionId: team, workspaceClass: "g1-standard", startedTime: at(-5 * minute), stoppingTime: at(5 * minute), stoppedTime: at(5 * minute) });
      clock.advanceMs(10 * minute);
      const failed = await g.tally.jobs.runOnce("ledger");
      assert.ok(failed.ran && !failed.ok, "the run fails");
      const status = await readJobRun(g.tally.database.db, "ledger");
      assert.match(status!.lastError!, /Gitpod's database mysql:\/\/root@127\.0\.0\.1:\d+\/gitpod_test_\w+ is unavailable/);
      const readyz = await fetch(`${g.tally.url}/readyz`);
      assert.equal(readyz.status, 200, "Tally itself stays ready");
      const detail = (await readyz.json()) as { gitpod: { reachable: boolean; error?: string; ledger: { lastError?: string } } };
      assert.equal(detail.gitpod.reachable, false);
      assert.match(detail.gitpod.ledger.lastError!, /unavailable/);
      const metrics = await (await fetch(`${g.tally.url}/metrics`)).text();
      assert.match(metrics, /^tally_gitpod_database_up 0$/m);
      assert.match(metrics, /^tally_job_runs_total\{job="ledger",outcome="failure"\} [1-9]/m);
      await proxy.up();
      clock.advanceMs(10 * minute);
      const caughtUp = await g.tally.jobs.runOnce("ledger");
      assert.ok(caughtUp.ran && caughtUp.ok);
      const entries = await entriesOf(g, [early!, during!]);
      assert.equal(entries.length, 2, "the instance that stopped during the outage is booked by the next run");
      assert.deepEqual(await balanceOf(g, team), { balance: 1080n, sum: 1080n, entries: 2 });
      // /readyz shows it reachable again once its ping is older than a few seconds; the ledger is no longer failing.
      const statusAfter = await readJobRun(g.tally.database.db, "ledger");
      assert.ok(statusAfter!.lastSuccessAt! > statusAfter!.lastFailureAt!);
    } finally {
      await proxy.up();
    }
  });

  it("loses nothing and books nothing twice when Gitpod's database goes away in the middle of a run", async () => {
    const team = `team:${randomUUID()}`;
    const specs: Spec[] = [];
    for (let index = 0; index < 12; index += 1) {
      specs.push({
        attributionId: team,
        workspaceClass: "g1-standard",
        startedTime: at(-2 * hour),
        stoppingTime: at(-hour + index * second),
        stoppedTime: at(-hour + index * second),
      });
    }
    for (let index = 0; index < 5; index += 1) specs.push({ attributionId: team, workspaceClass: "g1-standard", startedTime: at(-hour - index * second), phase: "running" });
    const ids = await inGitpod(...specs);
    const pool = openGitpodDatabase({ url: proxy.urlFor(gitpod.url), connectTimeoutMs: 1000, queryTimeoutMs: 5000 });
    let queries = 0;
    // The database goes away after a few pages: the schema probe, the drafts read and two pages of stopped instances.
    const flaky = {
      ...pool,
      query: async <T extends object>(statement: string, params?: Parameters<typeof pool.query>[1]) => {
        queries += 1;
        if (queries === 5) await proxy.down();
        return pool.query<T>(statement, params);
      },
    };
    const db = g.tally.database.db;
    const reconciler = new UsageReconciler({
      db,
      clock,
      prices: buildPriceTable(prices),
      source: new GitpodInstanceSource({ gitpod: flaky, db, pageSize: 3 }),
    });
    try {
      await assert.rejects(reconciler.reconcile(at(-3 * hour), clock.now()), /Gitpod's database .* is unavailable/);
      const partial = await entriesOf(g, ids);
      assert.ok(partial.length > 0 && partial.length < ids.length, `booked ${partial.length} of ${ids.length} before the outage`);
      await proxy.up();
      await reconciler.reconcile(at(-3 * hour), clock.now());
      const entries = await entriesOf(g, ids);
      assert.equal(entries.length, ids.length, "every instance booked once");
      assert.equal(new Set(entries.map((entry) => entry.source_key)).size, ids.length);
      const third = await reconciler.reconcile(at(-3 * hour), clock.now());
      assert.equal(third.inserted, 0);
      assert.deepEqual(await entriesOf(g, ids), entries);
      const team_ = await balanceOf(g, team);
      assert.equal(team_.balance, team_.sum);
      assert.equal(team_.entries, ids.length);
    } finally {
      await proxy.up();
      await pool.close();
    }
  });
});
