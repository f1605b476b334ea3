// Entry ids minted with one time (a reconcile run's `now`) come in order, so the usage primary key
// takes a bulk reconcile's entries at its right edge instead of on random pages.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { uuidV7 } from "../src/store/uuid-v7.js";

describe("uuidV7", () => {
  it("mints ids of one millisecond in increasing order, with that millisecond", () => {
    const time = new Date("2026-06-01T12:00:00Z");
    const ids = Array.from({ length: 20_000 }, () => uuidV7(time));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of [ids[0]!, ids[ids.length - 1]!]) {
      assert.equal(Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16), time.getTime());
      assert.equal(id[14], "7");
    }
    // A later time starts a new run of ids after these.
    assert.ok(uuidV7(new Date(time.getTime() + 1)) > ids[ids.length - 1]!);
  });
});
