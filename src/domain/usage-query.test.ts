import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TallyError } from "./tally-error.js";
import { parseUsageQuery, type UsageQueryInput } from "./usage-query.js";

const now = new Date("2026-06-01T00:00:00Z");
const day = 86_400_000;
const input: UsageQueryInput = {
  attributionId: "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717",
  from: undefined,
  to: undefined,
  order: "descending",
  userId: "",
  perPage: 0n,
  page: 0n,
};
const invalid = (overrides: Partial<UsageQueryInput>, message: RegExp) =>
  assert.throws(
    () => parseUsageQuery({ ...input, ...overrides }, now),
    (e: unknown) => e instanceof TallyError && e.code === "InvalidArgument" && message.test(e.message),
  );

describe("usage queries", () => {
  it("defaults to the 300 days up to now, 50 per page, first page", () => {
    const query = parseUsageQuery(input, now);
    assert.deepEqual(query.to, now);
    assert.deepEqual(query.from, new Date(now.getTime() - 300 * day));
    assert.equal(query.perPage, 50);
    assert.equal(query.page, 1);
  });

  it("defaults from to 300 days before an explicit to", () => {
    const to = new Date("2026-01-01T00:00:00Z");
    assert.deepEqual(parseUsageQuery({ ...input, to }, now).from, new Date(to.getTime() - 300 * day));
  });

  it("rejects inverted and over-long ranges and out-of-range paging", () => {
    invalid({ from: new Date(now.getTime() + 1) }, /must not be after/);
    invalid({ from: new Date(now.getTime() - 300 * day - 1) }, /longer than 300 days/);
    invalid({ perPage: -1n }, /per_page -1/);
    invalid({ perPage: 1001n }, /per_page 1001/);
    invalid({ page: -1n }, /page -1/);
    invalid({ page: 3_000_000_000n }, /page 3000000000/);
    invalid({ userId: "x" }, /user_id "x"/);
  });
});
