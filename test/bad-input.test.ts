// Whatever a caller sends, the answer is a clear error or a result: never INTERNAL, never a crash,
// never a partial write (the balance always equals the ledger sum).
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { getBalanceCents } from "../src/store/balances.js";
import { sumLedgerCents } from "../src/store/ledger.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const knownIds = ["team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717", "user:3f1c7c52-6f4e-4b3e-9d7e-2b1f6a2c9e10"];
const attributionId = fc.oneof(fc.constantFrom(...knownIds), fc.string(), fc.string({ unit: "binary", maxLength: 60 }), fc.constant(`team:${"\u0000".repeat(36)}`));
const timestamp = fc.option(
  fc.record({ seconds: fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n }), nanos: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }).map((t) => create(TimestampSchema, t)),
  { nil: undefined },
);
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

describe("bad input", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });

  it("never answers INTERNAL or UNKNOWN to random requests on any UsageService RPC", async () => {
    const calls = fc.oneof(
      fc.record({ attributionId }).map((r) => () => t.usage.getCostCenter(r)),
      fc.record({ attributionId }).map((r) => () => t.usage.getBalance(r)),
      fc
        .record({ attributionId, credits: int32, description: fc.string({ unit: "binary", maxLength: 1200 }), userId: fc.oneof(fc.string(), fc.uuid()) })
        .map((r) => () => t.usage.addUsageCreditNote(r)),
      fc
        .record({ attributionId, spendingLimit: int32, billingStrategy: fc.integer({ min: -3, max: 5 }), nextBillingTime: timestamp, billingCycleStart: timestamp })
        .map((c) => () => t.usage.setCostCenter({ costCenter: c })),
      fc
        .record({ attributionId, from: timestamp, to: timestamp, order: fc.integer({ min: -2, max: 4 }), pagination: fc.record({ perPage: int64, page: int64 }), userId: fc.oneof(fc.string(), fc.uuid()) })
        .map((r) => () => t.usage.listUsage(r)),
      fc.record({ from: timestamp, to: timestamp }).map((r) => () => t.usage.reconcileUsage(r)),
    );
    await fc.assert(
      fc.asyncProperty(calls, async (call) => {
        try {
          await call();
        } catch (error) {
          assert.ok(error instanceof ConnectError, String(error));
          assert.ok(![Code.Internal, Code.Unknown].includes(error.code), `${Code[error.code]}: ${error.rawMessage}`);
        }
      }),
      { numRuns: 300 },
    );
    for (const id of knownIds) {
      assert.equal(await getBalanceCents(t.tally.database.db, id), await sumLedgerCents(t.tally.database.db, id));
    }
    assert.equal((await fetch(`${t.tally.url}/readyz`)).status, 200);
  });

  it("answers INVALID_ARGUMENT to a gRPC body that is not a protobuf message", async () => {
    const session = http2.connect(t.tally.url);
    try {
      const headers = await new Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": "/usage.v1.UsageService/GetBalance", "content-type": "application/grpc", te: "trailers" });
        let result: Record<string, unknown> = {};
        stream.on("response", (h) => (result = { ...h }));
        stream.on("trailers", (h) => (result = { ...result, ...h }));
        stream.on("end", () => resolve(result as never));
        stream.on("error", reject);
        stream.resume();
        stream.end(Buffer.from([0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff]));
      });
      assert.equal(headers["grpc-status"], "3");
      assert.match(String(headers["grpc-message"]), /not a valid protobuf message/);
    } finally {
      session.close();
    }
  });
});
