// A reconcile page reads a bounded number of instances, however many of them a stream passes over:
// a window full of instances already booked (a bulk import checked once more by the next ledger
// run) is walked page by page, never in one statement that scans the whole window looking for a
// page of instances still to book (at 1M instances that statement outran statement_timeout).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import { buildPriceTable } from "../src/domain/pricing.js";
import { UsageReconciler } from "../src/services/usage-reconciler.js";
import { rowsOf } from "../src/store/raw-result.js";
import { candidatePage, candidateScanPagesMax, type CandidateCursor, type CandidateStream, type CandidateWindow } from "../src/store/workspace-instances.js";
import { teamId } from "./support/ledger-fixtures.js";
import { instanceClient, instanceReport, type InstanceClient, type InstanceSpec } from "./support/instances.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const minute = 60_000;
const hour = 60 * minute;
const prices = { small: 0.5 };
const pageSize = 4;
/** How many instances one statement reads at most. */
const scanLimit = pageSize * candidateScanPagesMax;

describe("reconcile pages", () => {
  let t: TestTally;
  let client: InstanceClient;
  let reconciler: UsageReconciler;
  const team = teamId();
  const at = (offsetMs: number) => new Date(t.clock.now().getTime() + offsetMs);

  before(async () => {
    t = await startTestTally({ env: { TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify(prices) } });
    client = instanceClient(t);
    reconciler = new UsageReconciler({ db: t.tally.database.db, clock: t.clock, prices: buildPriceTable(prices), pageSize });
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });

  async function report(specs: InstanceSpec[]): Promise<string[]> {
    const ids = specs.map(() => randomUUID());
    await client.methods.upsertWorkspaceInstances({ instances: specs.map((spec, index) => instanceReport({ ...spec, id: ids[index]! })) });
    return ids;
  }

  /** Every page of a stream: how many instances each offered to book. */
  async function walk(stream: CandidateStream, window: CandidateWindow): Promise<number[]> {
    const offered: number[] = [];
    let cursor: CandidateCursor | undefined;
    do {
      const page = await candidatePage(t.tally.database.db, stream, window, cursor, pageSize);
      offered.push(page.candidates.length);
      cursor = page.next;
    } while (cursor);
    return offered;
  }

  async function entriesOf(ids: readonly string[]): Promise<{ source_key: string; draft: boolean; credit_cents: string }[]> {
    const keys = ids.map((id) => `instance:${id}`);
    const result = await t.tally.database.db.execute(
      sql`SELECT source_key, draft, credit_cents::text AS credit_cents FROM usage WHERE source_key IN (${sql.join(keys.map((key) => sql`${key}`), sql`, `)}) ORDER BY source_key`,
    );
    return rowsOf(result);
  }

  it("walks a window of booked instances a bounded scan at a time, offering none, and books only the new ones among them", async () => {
    // 90 instances stopped in the last 100 minutes, a minute apart, booked: final entries.
    const stoppedSpec = (index: number): InstanceSpec => ({
      attributionId: team,
      workspaceClass: "small",
      startedTime: at(-3 * hour),
      stoppingTime: at(-100 * minute + index * minute),
      stoppedTime: at(-100 * minute + index * minute),
    });
    const booked = await report(Array.from({ length: 90 }, (_, index) => stoppedSpec(index)));
    const window: CandidateWindow = { from: at(-4 * hour), to: at(0), runningSince: at(-24 * hour) };
    const first = await reconciler.reconcile(window.from, window.to);
    assert.equal(first.inserted, 90);
    assert.ok((await entriesOf(booked)).every((entry) => !entry.draft));

    // A statement reads at most scanLimit instances and offers none of them: 90 are 3 statements.
    const statements = Array<number>(Math.ceil(90 / scanLimit)).fill(0);
    assert.deepEqual(await walk("stopped", window), statements);
    // Reported in this window, stopped before it.
    assert.deepEqual(await walk("reportedStopped", { ...window, from: at(-minute), to: at(minute) }), statements);

    // New instances stopped between the booked ones: two alone, six side by side (more than a page).
    const late = await report([stoppedSpec(2.5), stoppedSpec(77.5)]);
    const together = await report(Array.from({ length: 6 }, (_, index) => stoppedSpec(50.1 + index / 10)));
    const offered = await walk("stopped", window);
    assert.ok(
      offered.every((n) => n <= pageSize),
      `${JSON.stringify(offered)}`,
    );
    assert.equal(
      offered.reduce((sum, n) => sum + n, 0),
      8,
    );
    const before = await entriesOf(booked);
    const second = await reconciler.reconcile(window.from, window.to);
    assert.equal(second.inserted, 8);
    assert.equal(second.considered, 8);
    assert.deepEqual(await entriesOf(booked), before);
    assert.equal((await entriesOf(together)).filter((entry) => !entry.draft).length, 6);
    // 82.5 and 157.5 minutes at 0.5 credits a minute.
    const lateEntries = await entriesOf(late);
    assert.deepEqual(lateEntries.map((entry) => [entry.draft, entry.credit_cents]).sort(), [
      [false, "4125"],
      [false, "7875"],
    ]);

    const third = await reconciler.reconcile(window.from, window.to);
    assert.equal(third.inserted + third.updated + third.finalized, 0);
    assert.equal(third.considered, 0);
  });

  it("gathers the plans of consecutive pages into writes of at most writeSize entries, each stream written on its own", async () => {
    const other = teamId();
    const gathering = new UsageReconciler({ db: t.tally.database.db, clock: t.clock, prices: buildPriceTable(prices), pageSize, writeSize: 10 });
    // 25 stopped a minute apart (7 pages of 4), 3 running: 12 + 12 + 1 stopped, then the 3 running.
    const stopped = await report(
      Array.from({ length: 25 }, (_, index) => ({
        attributionId: other,
        workspaceClass: "small",
        startedTime: at(-3 * hour),
        stoppingTime: at(-50 * minute + index * minute),
        stoppedTime: at(-50 * minute + index * minute),
      })),
    );
    const running = await report(Array.from({ length: 3 }, () => ({ attributionId: other, workspaceClass: "small", startedTime: at(-hour) })));
    const summary = await gathering.reconcile(at(-hour), at(0));
    assert.equal(summary.inserted, 28);
    assert.equal(summary.writes, 4);
    assert.equal((await entriesOf(stopped)).filter((entry) => !entry.draft).length, 25);
    assert.equal((await entriesOf(running)).filter((entry) => entry.draft).length, 3);
    // Each entry moved the balance once: 25 stopped after 130 to 154 minutes, 3 running for an hour.
    const entries = [...(await entriesOf(stopped)), ...(await entriesOf(running))];
    const ledgerCents = entries.reduce((sum, entry) => sum + BigInt(entry.credit_cents), 0n);
    const balance = rowsOf<{ balance_cents: string }>(
      await t.tally.database.db.execute(sql`SELECT balance_cents::text AS balance_cents FROM balances WHERE attribution_id = ${other}`),
    );
    assert.equal(BigInt(balance[0]!.balance_cents), ledgerCents);
    // Nothing new: reads only.
    const again = await gathering.reconcile(at(-hour), at(0));
    assert.equal(again.writes, 0);
    assert.equal(again.inserted + again.updated, 0);
  });

  it("passes over running instances that have drafts, page by page, and still finds one that has none", async () => {
    const runningSpec = (index: number): InstanceSpec => ({ attributionId: team, workspaceClass: "small", startedTime: at(-hour + index * minute) });
    const running = await report(Array.from({ length: 45 }, (_, index) => runningSpec(index / 2)));
    const window: CandidateWindow = { from: at(-minute), to: at(0), runningSince: at(-24 * hour) };
    const first = await reconciler.reconcile(window.from, window.to);
    assert.equal(first.inserted, 45);
    assert.ok((await entriesOf(running)).every((entry) => entry.draft));
    assert.deepEqual(await walk("running", window), Array<number>(Math.ceil(45 / scanLimit)).fill(0));

    const [fresh] = await report([runningSpec(4.25)]);
    assert.equal(
      (await walk("running", window)).reduce((sum, n) => sum + n, 0),
      1,
    );
    const second = await reconciler.reconcile(window.from, window.to);
    assert.equal(second.inserted, 1);
    assert.equal((await entriesOf([fresh!])).length, 1);
  });
});
