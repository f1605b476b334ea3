// The request log as an operator's log pipeline reads it: one JSON object per line, every key once.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { Code, type ConnectError } from "@connectrpc/connect";
import { createLogger } from "../src/logger.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

/** The keys of every JSON object in `text` that appear more than once in that object (JSON.parse keeps the last silently). */
function duplicateKeys(text: string): string[] {
  const duplicates: string[] = [];
  let at = 0;
  const space = () => {
    while (/\s/.test(text[at] ?? "")) at += 1;
  };
  const string = (): string => {
    const start = at;
    at += 1;
    while (text[at] !== '"') at += text[at] === "\\" ? 2 : 1;
    at += 1;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (): void => {
    space();
    const c = text[at];
    if (c === "{") {
      at += 1;
      const seen = new Set<string>();
      for (space(); text[at] !== "}"; space()) {
        if (text[at] === ",") at += 1;
        space();
        const key = string();
        if (seen.has(key)) duplicates.push(key);
        seen.add(key);
        space();
        at += 1; // ':'
        value();
      }
      at += 1;
    } else if (c === "[") {
      at += 1;
      for (space(); text[at] !== "]"; space()) {
        if (text[at] === ",") at += 1;
        value();
      }
      at += 1;
    } else if (c === '"') {
      string();
    } else {
      while (at < text.length && !/[,}\]\s]/.test(text[at]!)) at += 1;
    }
  };
  JSON.parse(text); // valid JSON first; the scan above trusts it
  value();
  return duplicates;
}

describe("the request log", () => {
  let t: TestTally;
  const lines: string[] = [];
  before(async () => {
    let pending = "";
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        pending += chunk.toString("utf8");
        const complete = pending.split("\n");
        pending = complete.pop()!;
        lines.push(...complete.filter((line) => line !== ""));
        done();
      },
    });
    t = await startTestTally({ logger: createLogger("info", destination) });
  });
  after(async () => {
    await t?.stop();
  });

  it("finds duplicate keys, so the check below can fail", () => {
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"c":[{"d":1,"d":2}]},"a":"x\\"y"}'), ["d", "a"]);
    assert.deepEqual(duplicateKeys('{"a":1,"b":{"a":2}}'), []);
  });

  it("logs a failed RPC as one JSON object with each key once, naming the request, RPC and code", async () => {
    const requestId = `log-test-${Date.now()}`;
    await assert.rejects(
      t.usage.getBalance({ attributionId: "team:nope" }, { headers: { "x-request-id": requestId } }),
      (error: ConnectError) => error.code === Code.InvalidArgument,
    );
    const line = lines.find((candidate) => candidate.includes(requestId));
    assert.ok(line, `no log line for request ${requestId} in:\n${lines.join("\n")}`);
    assert.deepEqual(duplicateKeys(line), [], line);
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.msg, "rpc failed");
    assert.equal(entry.requestId, requestId);
    assert.equal(entry.service, "tally");
    assert.equal(entry.rpcService, "usage.v1.UsageService");
    assert.equal(entry.procedure, "GetBalance");
    assert.equal(entry.code, "INVALID_ARGUMENT");
    assert.equal(typeof entry.durationMs, "number");
  });
});
