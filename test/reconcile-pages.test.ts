// A reconcile page reads at most a page of instances, however many of them a stream passes over:
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
import { candidatePage, type CandidateCursor, type CandidateStream, type CandidateWindow } from "../src/store/workspace-instances.js";
import { teamId } from "./support/ledger-fixtures.js";
import { instanceClient, instanceReport, type InstanceClient, type InstanceSpec } from "./support/instances.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const minute = 60_000;
const hour = 60 * minute;
const prices = { small: 0.5 };
const pageSize = 4;

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

  it("walks a window of booked instances page by page, offering none, and books only the new ones among them", async () => {
    // 10 instances stopped in the last hour, booked: final entries.
    const stoppedSpec = (index: number): InstanceSpec => ({
      attributionId: team,
      workspaceClass: "small",
      startedTime: at(-2 * hour),
      stoppingTime: at(-hour + index * minute),
      stoppedTime: at(-hour + index * minute),
    });
    const booked = await report(Array.from({ length: 10 }, (_, index) => stoppedSpec(index)));
    const window: CandidateWindow = { from: at(-3 * hour), to: at(0), runningSince: at(-24 * hour) };
    const first = await reconciler.reconcile(window.from, window.to);
    assert.equal(first.inserted, 10);
    assert.ok((await entriesOf(booked)).every((entry) => !entry.draft));

    // Each page reads `pageSize` instances and offers none of them: 10 booked instances are 3 pages.
    assert.deepEqual(await walk("stopped", window), [0, 0, 0]);
    // Reported in this window, stopped before it.
    assert.deepEqual(await walk("reportedStopped", { ...window, from: at(-minute), to: at(minute) }), [0, 0, 0]);

    // New instances stopped between the booked ones: only they are offered, on the pages that read them.
    const late = await report([stoppedSpec(2.5), stoppedSpec(7.5)]);
    const offered = await walk("stopped", window);
    // 12 instances: three full pages, then an empty one that ends the stream.
    assert.equal(offered.length, 4);
    assert.equal(
      offered.reduce((sum, n) => sum + n, 0),
      2,
    );
    const before = await entriesOf(booked);
    const second = await reconciler.reconcile(window.from, window.to);
    assert.equal(second.inserted, 2);
    assert.equal(second.considered, 2);
    assert.deepEqual(await entriesOf(booked), before);
    // 62.5 and 67.5 minutes at 0.5 credits a minute.
    const lateEntries = await entriesOf(late);
    assert.deepEqual(lateEntries.map((entry) => [entry.draft, entry.credit_cents]).sort(), [
      [false, "3125"],
      [false, "3375"],
    ]);

    const third = await reconciler.reconcile(window.from, window.to);
    assert.equal(third.inserted + third.updated + third.finalized, 0);
    assert.equal(third.considered, 0);
  });

  it("passes over running instances that have drafts, page by page, and still finds one that has none", async () => {
    const runningSpec = (index: number): InstanceSpec => ({ attributionId: team, workspaceClass: "small", startedTime: at(-hour + index * minute) });
    const running = await report(Array.from({ length: 9 }, (_, index) => runningSpec(index)));
    const window: CandidateWindow = { from: at(-minute), to: at(0), runningSince: at(-24 * hour) };
    const first = await reconciler.reconcile(window.from, window.to);
    assert.equal(first.inserted, 9);
    assert.ok((await entriesOf(running)).every((entry) => entry.draft));
    assert.deepEqual(await walk("running", window), [0, 0, 0]);

    const [fresh] = await report([runningSpec(4.5)]);
    assert.equal(
      (await walk("running", window)).reduce((sum, n) => sum + n, 0),
      1,
    );
    const second = await reconciler.reconcile(window.from, window.to);
    assert.equal(second.inserted, 1);
    assert.equal((await entriesOf([fresh!])).length, 1);
  });
});
