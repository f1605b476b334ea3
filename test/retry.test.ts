// The shared helpers that replaced hand-written ones: retries and backoff (src/retry.ts over p-retry),
// UUIDs (the uuid package), CSV records (csv-stringify).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inboxRetryDelayMs } from "../src/billing/webhook-inbox-worker.js";
import { csvRow } from "../src/cli/csv.js";
import { explainNotUuid } from "../src/domain/uuid.js";
import { backoffDelayMs, withRetries } from "../src/retry.js";
import { uuidV7 } from "../src/store/uuid-v7.js";

describe("retries", () => {
  it("waits minMs x factor^(attempt-1), capped, spread over [1, 2) with jitter", () => {
    const backoff = { minMs: 100, maxMs: 1000, factor: 3 };
    assert.deepEqual([1, 2, 3, 4, 50].map((attempt) => backoffDelayMs(attempt, backoff)), [100, 300, 900, 1000, 1000]);
    assert.equal(backoffDelayMs(2, { ...backoff, jitter: true }, () => 0.5), 450);
    assert.deepEqual([1, 2, 3, 12, 30].map(inboxRetryDelayMs), [5_000, 10_000, 20_000, 3_600_000, 3_600_000]);
  });

  it("retries what may be retried, up to the attempts, and gives up at once on anything else", async () => {
    const backoff = { minMs: 1, maxMs: 2, factor: 2 };
    let calls = 0;
    const flaky = await withRetries(
      async (attempt) => {
        calls += 1;
        if (attempt < 3) throw new Error("busy");
        return attempt;
      },
      { attempts: 5, backoff, retryable: (e) => (e as Error).message === "busy" },
    );
    assert.deepEqual([flaky, calls], [3, 3]);

    calls = 0;
    await assert.rejects(withRetries(async () => { calls += 1; throw new Error("busy"); }, { attempts: 4, backoff, retryable: () => true }), /busy/);
    assert.equal(calls, 4);

    calls = 0;
    await assert.rejects(withRetries(async () => { calls += 1; throw new Error("bad input"); }, { attempts: 4, backoff, retryable: () => false }), /bad input/);
    assert.equal(calls, 1);
  });
});

describe("UUIDs", () => {
  it("mints version 7 ids that start with their time and pass validation", () => {
    const time = new Date("2026-03-01T12:00:00.123Z");
    const ids = Array.from({ length: 2000 }, () => uuidV7(time));
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids.slice(0, 50)) {
      assert.equal(explainNotUuid(id), undefined, id);
      assert.equal(id[14], "7");
      assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), time.getTime());
    }
  });

  it("refuses what is not an id, saying why", () => {
    assert.equal(explainNotUuid("0a7dcf25-f05e-4dcf-9a47-cf8fccc74717"), undefined);
    assert.match(explainNotUuid("0a7dcf25")!, /8 characters long/);
    assert.match(explainNotUuid("0a7dcf25-f05e-4dcf-9a47-cf8fccc7471g")!, /other than hex/);
    assert.match(explainNotUuid("00000000-0000-0000-0000-000000000000")!, /not an RFC 4122 UUID/);
    assert.match(explainNotUuid("0a7dcf25-f05e-0dcf-9a47-cf8fccc74717")!, /not an RFC 4122 UUID/);
    assert.match(explainNotUuid("0a7dcf25f-05e-4dcf-9a47-cf8fccc74717")!, /not an RFC 4122 UUID/);
  });
});

describe("CSV records", () => {
  it("follows RFC 4180: CRLF, quoting only fields with a comma, quote or line break, quotes doubled", () => {
    assert.equal(csvRow(["a", "b c", ""]), "a,b c,\r\n");
    assert.equal(csvRow(["x,y", 'say "hi"', "two\nlines", "cr\ronly"]), '"x,y","say ""hi""","two\nlines","cr\ronly"\r\n');
  });
});
