import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkBatchSize, mergeReports, validateInstanceReport, type InstanceReportInput } from "./workspace-instance.js";

const now = new Date("2026-01-15T12:00:00Z");
const id = "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";

function input(overrides: Partial<InstanceReportInput> = {}): InstanceReportInput {
  return {
    id,
    workspaceId: "ws-1",
    attributionId: "",
    userId: "",
    workspaceClass: "",
    workspaceType: "",
    creationTime: undefined,
    startedTime: undefined,
    stoppingTime: undefined,
    stoppedTime: undefined,
    projectId: "",
    contextUrl: "",
    userName: "",
    userAvatarUrl: "",
    ...overrides,
  };
}

describe("workspace-instance reports", () => {
  it("treats empty strings as not reported and canonicalises ids", () => {
    const report = validateInstanceReport(
      input({ id: id.toUpperCase(), attributionId: "team:6B8A1F3E-8C1D-4A5E-9F1B-2D3C4E5F6A7B", workspaceType: "prebuild" }),
      "instances[0]",
      now,
    );
    assert.equal(report.id, id);
    assert.equal(report.attributionId, "team:6b8a1f3e-8c1d-4a5e-9f1b-2d3c4e5f6a7b");
    assert.equal(report.workspaceType, "prebuild");
    assert.equal(report.workspaceClass, undefined);
    assert.equal(report.userName, undefined);
  });

  it("names the prefix, field, value and rule of what is wrong", () => {
    const cases: Array<[Partial<InstanceReportInput>, RegExp]> = [
      [{ id: "" }, /^instances\[7\]\.id is required$/],
      [{ workspaceId: "" }, /^instances\[7\]\.workspace_id is required$/],
      [{ workspaceType: "Regular" }, /^instances\[7\]\.workspace_type "Regular" must be "regular" or "prebuild"$/],
      [{ workspaceClass: "x".repeat(129) }, /^instances\[7\]\.workspace_class is 129 characters long, at most 128 allowed$/],
      [{ startedTime: now, stoppedTime: new Date(now.getTime() - 1) }, /^instances\[7\]\.stopped_time .* must not be before started_time/],
      [{ creationTime: new Date(now.getTime() + 25 * 3600_000) }, /^instances\[7\]\.creation_time .* more than 24 hours ahead/],
    ];
    for (const [overrides, message] of cases) {
      assert.throws(() => validateInstanceReport(input(overrides), "instances[7]", now), { message });
    }
  });

  it("refuses times before 1970 (a year below 100 would read back from the database as 19xx or 20xx)", () => {
    const yearOne = new Date("0001-01-01T00:00:00Z");
    assert.throws(() => validateInstanceReport(input({ startedTime: yearOne }), "instances[2]", now), {
      message: "instances[2].started_time 0001-01-01T00:00:00.000Z is before 1970-01-01T00:00:00Z",
    });
    assert.throws(() => validateInstanceReport(input({ stoppedTime: new Date(-1) }), "instances[0]", now), { message: /^instances\[0\]\.stopped_time / });
    assert.ok(validateInstanceReport(input({ creationTime: new Date(0) }), "instances[0]", now).creationTime);
  });

  it("accepts a time slightly ahead of the server's clock (skew)", () => {
    const report = validateInstanceReport(input({ startedTime: new Date(now.getTime() + 3600_000) }), "instances[0]", now);
    assert.ok(report.startedTime);
  });

  it("limits a batch to 1000 instances", () => {
    checkBatchSize(1000);
    assert.throws(() => checkBatchSize(1001), { message: /^instances has 1001 entries, at most 1000/ });
  });

  it("merges reports of one instance, later values winning and absent values kept, sorted by id", () => {
    const other = "00000000-0000-4000-8000-000000000000";
    const reports = [
      validateInstanceReport(input({ startedTime: new Date("2026-01-15T10:00:00Z"), userName: "Ada" }), "i[0]", now),
      validateInstanceReport(input({ id: other }), "i[1]", now),
      validateInstanceReport(input({ stoppedTime: new Date("2026-01-15T11:00:00Z"), userName: "Ada L." }), "i[2]", now),
    ];
    const merged = mergeReports(reports);
    assert.deepEqual(merged.map((r) => r.id), [other, id]);
    assert.deepEqual(merged[1]!.startedTime, new Date("2026-01-15T10:00:00Z"));
    assert.deepEqual(merged[1]!.stoppedTime, new Date("2026-01-15T11:00:00Z"));
    assert.equal(merged[1]!.userName, "Ada L.");
  });
});
