// One ledger entry per source: an instance's own entry is unique by its instance id
// (usage_instance_key_idx), every other entry by its source key (usage_source_key_idx), and the
// check keeps "instance:" keys to instance entries whose id matches, so no source key repeats.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import { sourceKeys, type LedgerEntry } from "../src/domain/ledger-entry.js";
import { sqlState } from "../src/store/pg-error.js";
import { insertEntries } from "../src/store/ledger.js";
import { rowsOf } from "../src/store/raw-result.js";
import { inTransaction } from "../src/store/transactions.js";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

describe("ledger entry keys", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });

  const team = teamId();
  const entry = (fields: Partial<LedgerEntry>): LedgerEntry => ({
    id: randomUUID(),
    attributionId: team,
    sourceKey: `creditnote:${randomUUID()}`,
    kind: "creditnote",
    description: "test",
    creditCents: -100n,
    effectiveTime: new Date("2026-01-10T00:00:00Z"),
    workspaceInstanceId: null,
    draft: false,
    metadata: {},
    ...fields,
  });
  const insert = (entries: LedgerEntry[]) => inTransaction(t.tally.database.db, (tx) => insertEntries(tx, entries, new Date()));
  const count = async (where: string) =>
    Number(rowsOf<{ n: string }>(await t.tally.database.db.execute(sql.raw(`SELECT count(*)::text AS n FROM usage WHERE ${where}`)))[0]!.n);

  it("keeps one entry per instance and one per other source, however often they are written", async () => {
    const instanceId = randomUUID();
    const instance = () => entry({ kind: "workspaceinstance", sourceKey: sourceKeys.workspaceInstance(instanceId), workspaceInstanceId: instanceId, creditCents: 500n });
    const note = entry({});
    assert.deepEqual(await insert([instance(), note]), new Set([sourceKeys.workspaceInstance(instanceId), note.sourceKey]));
    assert.deepEqual(await insert([instance(), { ...note, id: randomUUID() }]), new Set());
    assert.equal(await count(`workspace_instance_id = '${instanceId}'`), 1);
    assert.equal(await count(`source_key = '${note.sourceKey}'`), 1);
    // An instance entry under another key (Gitpod's duplicate rows are imported so) is unique by that key.
    const duplicate = entry({ kind: "workspaceinstance", sourceKey: `gitpod:${randomUUID()}`, workspaceInstanceId: instanceId, creditCents: 7n });
    assert.equal((await insert([duplicate])).size, 1);
    assert.equal((await insert([{ ...duplicate, id: randomUUID() }])).size, 0);
    // Without an instance id too (the index predicate is never NULL, so no entry escapes both indexes).
    const noInstance = entry({ kind: "workspaceinstance", sourceKey: `gitpod:${randomUUID()}`, creditCents: 9n });
    assert.equal((await insert([noInstance])).size, 1);
    assert.equal((await insert([{ ...noInstance, id: randomUUID() }])).size, 0);
  });

  it("refuses an instance key that does not name its entry's instance", async () => {
    const instanceId = randomUUID();
    for (const wrong of [
      entry({ kind: "workspaceinstance", sourceKey: sourceKeys.workspaceInstance(instanceId), workspaceInstanceId: randomUUID() }),
      entry({ kind: "workspaceinstance", sourceKey: sourceKeys.workspaceInstance(instanceId), workspaceInstanceId: null }),
      entry({ kind: "creditnote", sourceKey: sourceKeys.workspaceInstance(instanceId) }),
    ]) {
      await assert.rejects(insert([wrong]), (error: unknown) => sqlState(error) === "23514");
    }
    assert.equal(await count(`source_key = 'instance:${instanceId}'`), 0);
  });
});
