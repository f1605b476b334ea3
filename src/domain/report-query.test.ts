import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePage, parseDailyUsageQuery } from "./report-query.js";
import { TallyError } from "./tally-error.js";

const now = new Date("2026-06-01T00:00:00Z");
const day = 86_400_000;
const team = "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";
const invalid = (run: () => unknown, message: RegExp) =>
  assert.throws(run, (e: unknown) => e instanceof TallyError && e.code === "InvalidArgument" && message.test(e.message));

describe("report queries", () => {
  it("pages like ListUsage: 0 means 50 per page and the first page", () => {
    assert.deepEqual(parsePage(0n, 0n), { perPage: 50, page: 1 });
    assert.deepEqual(parsePage(1000n, 7n), { perPage: 1000, page: 7 });
    invalid(() => parsePage(1001n, 1n), /per_page 1001 must be between 0 and 1000/);
    invalid(() => parsePage(-1n, 1n), /per_page -1/);
    invalid(() => parsePage(1n, -1n), /page -1 must not be negative/);
    invalid(() => parsePage(1n, 2_000_000_001n), /page 2000000001 must be at most/);
  });

  it("covers the 30 days up to now by default, and canonicalises ids", () => {
    const query = parseDailyUsageQuery({ attributionId: team.toUpperCase().replace("TEAM", "team"), from: undefined, to: undefined, userId: "" }, now);
    assert.deepEqual(query, { attributionId: team, from: new Date(now.getTime() - 30 * day), to: now, userId: undefined });
  });

  it("accepts exactly 300 days and rejects longer or inverted ranges", () => {
    const to = new Date("2026-01-01T00:00:00Z");
    const from = new Date(to.getTime() - 300 * day);
    assert.deepEqual(parseDailyUsageQuery({ attributionId: team, from, to, userId: "" }, now).from, from);
    invalid(() => parseDailyUsageQuery({ attributionId: team, from: new Date(from.getTime() - 1), to, userId: "" }, now), /longer than 300 days/);
    invalid(() => parseDailyUsageQuery({ attributionId: team, from: new Date(to.getTime() + 1), to, userId: "" }, now), /must not be after/);
  });
});
