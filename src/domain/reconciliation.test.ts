import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildPriceTable } from "./pricing.js";
import {
  instanceUsage,
  ledgerWindow,
  ledgerWindowOverlapMs,
  planReconciliation,
  runningInstanceLookbackMs,
  runtimeSeconds,
  type ExistingInstanceEntry,
} from "./reconciliation.js";
import type { WorkspaceInstance } from "./workspace-instance.js";

const now = new Date("2026-01-15T12:00:00Z");
const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
const prices = buildPriceTable({ "g1-standard": 0.6 }); // 1 credit cent per second

function instance(overrides: Partial<WorkspaceInstance> = {}): WorkspaceInstance {
  return {
    id: "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717",
    workspaceId: "ws-1",
    attributionId: "team:6b8a1f3e-8c1d-4a5e-9f1b-2d3c4e5f6a7b",
    userId: undefined,
    workspaceClass: "g1-standard",
    workspaceType: undefined,
    creationTime: undefined,
    startedTime: minutesAgo(10),
    stoppingTime: undefined,
    stoppedTime: undefined,
    projectId: "",
    contextUrl: "",
    userName: "",
    userAvatarUrl: "",
    ...overrides,
  };
}

function draft(overrides: Partial<ExistingInstanceEntry> = {}): ExistingInstanceEntry {
  return {
    entryId: "e0000000-0000-4000-8000-000000000001",
    attributionId: "team:6b8a1f3e-8c1d-4a5e-9f1b-2d3c4e5f6a7b",
    creditCents: 300n,
    draft: true,
    effectiveTime: minutesAgo(5),
    workspaceClass: "g1-standard",
    userId: null,
    ...overrides,
  };
}

describe("reconciliation", () => {
  describe("runtime", () => {
    it("runs from start to stopping time, else stopped time, else now, in whole seconds", () => {
      assert.equal(runtimeSeconds(instance({ stoppingTime: new Date(minutesAgo(10).getTime() + 61_999) }), now), 61n);
      assert.equal(runtimeSeconds(instance({ stoppedTime: minutesAgo(8) }), now), 120n);
      assert.equal(runtimeSeconds(instance({ stoppingTime: minutesAgo(9), stoppedTime: minutesAgo(8) }), now), 60n);
      assert.equal(runtimeSeconds(instance(), now), 600n);
    });

    it("is never negative", () => {
      assert.equal(runtimeSeconds(instance({ startedTime: new Date(now.getTime() + 60_000) }), now), 0n);
      assert.equal(runtimeSeconds(instance({ startedTime: undefined }), now), 0n);
    });
  });

  describe("the entry an instance should have", () => {
    it("is a draft at now while running", () => {
      const usage = instanceUsage(instance(), prices, now)!;
      assert.equal(usage.draft, true);
      assert.deepEqual(usage.effectiveTime, now);
      assert.equal(usage.creditCents, 600n);
      assert.equal(usage.sourceKey, "instance:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717");
    });

    it("stays a draft while only stopping, effective at the stopping time", () => {
      const usage = instanceUsage(instance({ stoppingTime: minutesAgo(4) }), prices, now)!;
      assert.equal(usage.draft, true);
      assert.deepEqual(usage.effectiveTime, minutesAgo(4));
      assert.equal(usage.creditCents, 360n);
    });

    it("is final once stopped", () => {
      const usage = instanceUsage(instance({ stoppingTime: minutesAgo(4), stoppedTime: minutesAgo(3) }), prices, now)!;
      assert.equal(usage.draft, false);
      assert.deepEqual(usage.effectiveTime, minutesAgo(4));
      assert.equal(usage.creditCents, 360n);
    });

    it("uses the default price for unknown classes", () => {
      assert.equal(instanceUsage(instance({ workspaceClass: "mystery", stoppedTime: minutesAgo(4) }), prices, now)!.creditCents, 100n);
    });

    it("does not exist without a started time or attribution id", () => {
      assert.equal(instanceUsage(instance({ startedTime: undefined }), prices, now), undefined);
      assert.equal(instanceUsage(instance({ attributionId: undefined }), prices, now), undefined);
    });

    it("carries Gitpod's metadata, with empty strings for what is unknown", () => {
      const usage = instanceUsage(instance({ userId: "5e1b0c4a-1111-4222-8333-944455556666", userName: "Ada" }), prices, now)!;
      assert.deepEqual(usage.metadata, {
        workspaceId: "ws-1",
        workspaceType: "regular",
        workspaceClass: "g1-standard",
        contextURL: "",
        creationTime: "",
        startTime: minutesAgo(10).toISOString(),
        endTime: "",
        stoppedTime: "",
        userId: "5e1b0c4a-1111-4222-8333-944455556666",
        userName: "Ada",
        userAvatarURL: "",
      });
    });
  });

  describe("planning", () => {
    it("inserts entries for instances that have none", () => {
      const plan = planReconciliation([{ instance: instance(), existing: undefined }], prices, now);
      assert.equal(plan.inserts.length, 1);
      assert.equal(plan.updates.length, 0);
    });

    it("updates a draft from what it holds to what it should hold", () => {
      const plan = planReconciliation([{ instance: instance(), existing: draft() }], prices, now);
      assert.deepEqual(plan.updates.map((u) => [u.entryId, u.expected, u.next.creditCents, u.next.draft]), [
        [
          "e0000000-0000-4000-8000-000000000001",
          { attributionId: draft().attributionId, creditCents: 300n, effectiveTime: minutesAgo(5), workspaceClass: "g1-standard", userId: null },
          600n,
          true,
        ],
      ]);
    });

    it("finalises a draft when the instance stopped", () => {
      const plan = planReconciliation([{ instance: instance({ stoppedTime: minutesAgo(5) }), existing: draft() }], prices, now);
      assert.equal(plan.updates[0]!.next.draft, false);
      // Same credits, but the entry must still become final.
      assert.equal(plan.updates[0]!.next.creditCents, 300n);
    });

    it("never touches a final entry", () => {
      const plan = planReconciliation([{ instance: instance(), existing: draft({ draft: false }) }], prices, now);
      assert.deepEqual([plan.inserts.length, plan.updates.length, plan.alreadyFinal], [0, 0, 1]);
    });

    it("leaves a draft that already says the right thing", () => {
      const plan = planReconciliation([{ instance: instance(), existing: draft({ creditCents: 600n, effectiveTime: now }) }], prices, now);
      assert.deepEqual([plan.inserts.length, plan.updates.length, plan.unchanged], [0, 0, 1]);
    });

    it("counts instances it cannot bill", () => {
      const plan = planReconciliation([{ instance: instance({ attributionId: undefined }), existing: undefined }], prices, now);
      assert.equal(plan.notBillable, 1);
    });
  });

  describe("the ledger window", () => {
    it("reaches back to the last success, minus the overlap, however long ago", () => {
      const lastSuccess = new Date(now.getTime() - 30 * 24 * 3600_000);
      assert.deepEqual(ledgerWindow(lastSuccess, now), { from: new Date(lastSuccess.getTime() - ledgerWindowOverlapMs), to: now });
    });

    it("looks back as far as running instances count on the first run", () => {
      assert.deepEqual(ledgerWindow(undefined, now), { from: new Date(now.getTime() - runningInstanceLookbackMs), to: now });
    });

    it("never starts after now, even when clocks disagree", () => {
      const future = new Date(now.getTime() + 3600_000);
      assert.deepEqual(ledgerWindow(future, now).from, now);
    });
  });
});
