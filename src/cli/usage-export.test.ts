import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseTime } from "./arguments.js";
import { splitRange, windowMsMax } from "./usage-export.js";

const day = 24 * 60 * 60 * 1000;

describe("usage export windows", () => {
  it("cuts a range into consecutive windows of at most 300 days, without gaps or overlaps", () => {
    const from = new Date("2020-01-01T00:00:00Z");
    const to = new Date(from.getTime() + 700 * day + 5);
    const windows = splitRange(from, to, windowMsMax, "asc");
    assert.deepEqual(windows.map((w) => (w.to.getTime() - w.from.getTime()) / day), [300, 300, 100 + 5 / day]);
    assert.equal(windows[0]!.from.getTime(), from.getTime());
    assert.equal(windows.at(-1)!.to.getTime(), to.getTime());
    for (let i = 1; i < windows.length; i++) assert.equal(windows[i]!.from.getTime(), windows[i - 1]!.to.getTime());
  });

  it("walks newest window first for descending order, and keeps an empty range as one window", () => {
    const from = new Date("2020-01-01T00:00:00Z");
    const to = new Date(from.getTime() + 301 * day);
    assert.deepEqual(splitRange(from, to, windowMsMax, "desc").map((w) => w.to.toISOString()), [to.toISOString(), new Date(from.getTime() + 300 * day).toISOString()]);
    assert.deepEqual(splitRange(from, from, windowMsMax, "asc"), [{ from, to: from }]);
  });
});

describe("command-line times", () => {
  it("reads dates as UTC midnight and date-times only with a zone", () => {
    assert.equal(parseTime("2026-01-31", "--from").toISOString(), "2026-01-31T00:00:00.000Z");
    assert.equal(parseTime("2026-01-31T12:30:00+02:00", "--from").toISOString(), "2026-01-31T10:30:00.000Z");
    assert.equal(parseTime("2026-01-31T12:30Z", "--from").toISOString(), "2026-01-31T12:30:00.000Z");
    for (const bad of ["2026-01-31T12:30:00", "yesterday", "2026-02-30", "2026-02-29T10:00:00Z", "2026-13-01"]) {
      assert.throws(() => parseTime(bad, "--from"), /--from .* is not a date/, bad);
    }
  });
});
