// Batched balance reads: many concurrent lookups share queries, and each still gets its own,
// committed balance.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openDatabase, type DatabaseHandle } from "../src/store/database.js";
import { BalanceReader, balanceBatchSizeMax } from "../src/store/balance-reader.js";
import { addToBalances } from "../src/store/balances.js";
import { inTransaction } from "../src/store/transactions.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { teamId } from "./support/ledger-fixtures.js";

describe("BalanceReader", () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  before(async () => {
    database = await createTestDatabase();
    handle = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
  });
  after(async () => {
    await handle?.close();
    await database?.drop();
  });

  it("answers each of many concurrent lookups with its own balance, 0 for ids never seen", async () => {
    const ids = Array.from({ length: balanceBatchSizeMax * 2 + 7 }, () => teamId());
    const deltas = new Map(ids.map((id, i) => [id, BigInt(i * 3 - 500)]));
    await inTransaction(handle.db, (tx) => addToBalances(tx, deltas, new Date()));
    const reader = new BalanceReader(handle.db);
    const unknown = teamId();
    const lookups = [...ids, ...ids.slice(0, 50), unknown];
    const answers = await Promise.all(lookups.map((id) => reader.balanceCents(id)));
    lookups.forEach((id, i) => assert.equal(answers[i], deltas.get(id) ?? 0n, id));
  });

  it("sees a change committed before the lookup", async () => {
    const reader = new BalanceReader(handle.db);
    const id = teamId();
    assert.equal(await reader.balanceCents(id), 0n);
    await inTransaction(handle.db, (tx) => addToBalances(tx, new Map([[id, 1234n]]), new Date()));
    assert.equal(await reader.balanceCents(id), 1234n);
  });

  it("fails every lookup of a failed query, and recovers for the next", async () => {
    let failNext = true;
    const flaky = new Proxy(handle.db, {
      get(target, property, receiver) {
        if (property === "select" && failNext) {
          failNext = false;
          return () => {
            throw new Error("connection lost");
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const reader = new BalanceReader(flaky);
    const results = await Promise.allSettled([reader.balanceCents(teamId()), reader.balanceCents(teamId())]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal(await reader.balanceCents(teamId()), 0n);
  });
});
