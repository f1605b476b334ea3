// WorkspaceInstanceService over a real port, called with a plain gRPC client from the .proto files.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../src/gen/health/v1/health_pb.js";
import { teamId } from "./support/ledger-fixtures.js";
import { fromTs, instanceClient, instanceReport, ts, type InstanceClient, type WireTimestamp } from "./support/instances.js";
import { grpcStatus, rejects, startTestTally, type TestTally } from "./support/test-tally.js";

const minute = 60_000;

describe("WorkspaceInstanceService over gRPC", () => {
  let t: TestTally;
  let client: InstanceClient;
  let api: InstanceClient["methods"];
  before(async () => {
    t = await startTestTally();
    client = instanceClient(t);
    api = client.methods;
  });
  after(async () => {
    client?.close();
    await t?.stop();
  });

  const exists = async (id: string) =>
    api.getWorkspaceInstance({ id }).then(
      () => true,
      (error: { code: number }) => {
        if (error.code === grpcStatus.NOT_FOUND) return false;
        throw error;
      },
    );

  it("stores a batch and returns each instance by id", async () => {
    const now = t.clock.now();
    const attributionId = teamId();
    const userId = randomUUID();
    const reports = Array.from({ length: 3 }, () =>
      instanceReport({
        attributionId,
        userId,
        workspaceClass: "g1-standard",
        workspaceType: "prebuild",
        creationTime: new Date(now.getTime() - 3 * minute),
        startedTime: new Date(now.getTime() - 2 * minute),
        contextUrl: "https://github.com/gitpod-io/gitpod",
        userName: "Ada",
      }),
    );
    const response = await api.upsertWorkspaceInstances({ instances: reports });
    assert.equal(response.upserted, "3");
    const stored = await api.getWorkspaceInstance({ id: reports[1]!.id });
    assert.equal(stored.id, reports[1]!.id);
    assert.equal(stored.workspaceId, reports[1]!.workspaceId);
    assert.equal(stored.attributionId, attributionId);
    assert.equal(stored.userId, userId);
    assert.equal(stored.workspaceClass, "g1-standard");
    assert.equal(stored.workspaceType, "prebuild");
    assert.deepEqual(fromTs(stored.startedTime), new Date(now.getTime() - 2 * minute));
    assert.equal(stored.stoppingTime, null);
    assert.equal(stored.contextUrl, "https://github.com/gitpod-io/gitpod");
    assert.equal(stored.userName, "Ada");
  });

  it("stores every reported time to the millisecond, from 1970 to 24 hours ahead", async () => {
    // Times travel to the database as Unix milliseconds (pg-arrays.ts epochMsArray): any rounding
    // would show in the odd milliseconds, at the epoch, or at the latest time accepted.
    const now = t.clock.now().getTime();
    const times = [0, 1, 999, 1_001, 86_400_000 - 1, now - 1, now + 7, now + 24 * 60 * minute - 999];
    const reports = times
      .filter((ms) => ms + 999 - now <= 24 * 60 * minute)
      .map((ms) => instanceReport({ creationTime: new Date(ms), startedTime: new Date(ms), stoppingTime: new Date(ms + 1), stoppedTime: new Date(ms + 999) }));
    await api.upsertWorkspaceInstances({ instances: reports });
    for (const report of reports) {
      const stored = await api.getWorkspaceInstance({ id: report.id });
      for (const field of ["creationTime", "startedTime", "stoppingTime", "stoppedTime"] as const) {
        const sent = fromTs(report[field] as WireTimestamp)!.toISOString();
        assert.equal(fromTs(stored[field])?.toISOString(), sent, `${field} of the report sent at ${sent}`);
      }
    }
  });

  it("answers NOT_FOUND for an unknown instance and INVALID_ARGUMENT for a bad id", async () => {
    await rejects(api.getWorkspaceInstance({ id: randomUUID() }), grpcStatus.NOT_FOUND, /unknown/);
    await rejects(api.getWorkspaceInstance({ id: "nope" }), grpcStatus.INVALID_ARGUMENT, /^id "nope" /);
    await rejects(api.getWorkspaceInstance({ id: "" }), grpcStatus.INVALID_ARGUMENT, /id is required/);
  });

  it("accepts an empty batch and stores nothing", async () => {
    assert.equal((await api.upsertWorkspaceInstances({ instances: [] })).upserted, "0");
  });

  it("rejects more than 1000 instances in one request", async () => {
    const instances = Array.from({ length: 1001 }, () => instanceReport({}));
    await rejects(api.upsertWorkspaceInstances({ instances }), grpcStatus.INVALID_ARGUMENT, /^instances has 1001 entries, at most 1000/);
    assert.equal(await exists(instances[0]!.id as string), false);
  });

  describe("rejects the whole batch, naming the index and field of the first bad entry", () => {
    const now = new Date("2026-01-15T12:00:00Z");
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ["a missing id", { id: "" }, /^instances\[3\]\.id is required/],
      ["an id that is not a UUID", { id: "ws-1" }, /^instances\[3\]\.id "ws-1" is 4 characters long/],
      ["a missing workspace id", { workspaceId: "" }, /^instances\[3\]\.workspace_id is required/],
      ["a bad attribution id", { attributionId: "org:1" }, /^instances\[3\]\.attribution_id "org:1": unknown kind "org"/],
      ["a bad user id", { userId: "ada" }, /^instances\[3\]\.user_id "ada" /],
      ["an unknown workspace type", { workspaceType: "huge" }, /^instances\[3\]\.workspace_type "huge" must be "regular" or "prebuild"/],
      ["a timestamp with bad nanos", { startedTime: { seconds: "1768478400", nanos: -1 } }, /^instances\[3\]\.started_time nanos -1/],
      [
        "a stop before the start",
        { startedTime: ts(now), stoppingTime: ts(new Date(now.getTime() - 1000)) },
        /^instances\[3\]\.stopping_time 2026-01-15T11:59:59\.000Z must not be before started_time/,
      ],
      [
        "a time far in the future",
        { stoppedTime: ts(new Date(now.getTime() + 2 * 24 * 3600_000)) },
        /^instances\[3\]\.stopped_time 2026-01-17T12:00:00\.000Z is more than 24 hours ahead/,
      ],
      ["a NUL character", { userName: "a\u0000b" }, /^instances\[3\]\.user_name "a\\u0000b" contains a NUL character/],
      ["an overlong context URL", { contextUrl: "x".repeat(4097) }, /^instances\[3\]\.context_url is 4097 characters long, at most 4096/],
    ];
    for (const [what, patch, message] of cases) {
      it(`for ${what}`, async () => {
        const instances = Array.from({ length: 6 }, () => instanceReport({ attributionId: teamId(), startedTime: now }));
        // Entry 5 is bad as well: the first bad entry is the one named.
        instances[3] = { ...instances[3], ...patch };
        instances[5] = { ...instances[5], id: "also-bad" };
        await rejects(api.upsertWorkspaceInstances({ instances }), grpcStatus.INVALID_ARGUMENT, message);
        for (const index of [0, 1, 2, 4]) assert.equal(await exists(instances[index]!.id as string), false);
      });
    }
  });

  it("never erases a time or value a report leaves out, and lets a later report add the stop", async () => {
    const now = t.clock.now();
    const id = randomUUID();
    const attributionId = teamId();
    const startedTime = new Date(now.getTime() - 30 * minute);
    const stoppedTime = new Date(now.getTime() - minute);
    await api.upsertWorkspaceInstances({
      instances: [instanceReport({ id, attributionId, startedTime, stoppedTime, workspaceClass: "g1-large", userName: "Ada" })],
    });
    // A stale report of the running instance arrives later: it must not undo the stop.
    await api.upsertWorkspaceInstances({ instances: [instanceReport({ id, startedTime })] });
    const stored = await api.getWorkspaceInstance({ id });
    assert.deepEqual(fromTs(stored.stoppedTime), stoppedTime);
    assert.deepEqual(fromTs(stored.startedTime), startedTime);
    assert.equal(stored.attributionId, attributionId);
    assert.equal(stored.workspaceClass, "g1-large");
    assert.equal(stored.userName, "Ada");
    // A later report adds what was missing.
    const stoppingTime = new Date(now.getTime() - 2 * minute);
    await api.upsertWorkspaceInstances({ instances: [instanceReport({ id, stoppingTime, userName: "Ada L." })] });
    const updated = await api.getWorkspaceInstance({ id });
    assert.deepEqual(fromTs(updated.stoppingTime), stoppingTime);
    assert.deepEqual(fromTs(updated.stoppedTime), stoppedTime);
    assert.equal(updated.userName, "Ada L.");
  });

  it("merges several reports of one instance in one batch, later ones winning", async () => {
    const now = t.clock.now();
    const id = randomUUID();
    const startedTime = new Date(now.getTime() - 10 * minute);
    const stoppedTime = new Date(now.getTime() - minute);
    const response = await api.upsertWorkspaceInstances({
      instances: [
        instanceReport({ id, startedTime, workspaceClass: "small" }),
        instanceReport({ id, stoppedTime, workspaceClass: "large" }),
      ],
    });
    assert.equal(response.upserted, "1");
    const stored = await api.getWorkspaceInstance({ id });
    assert.deepEqual(fromTs(stored.startedTime), startedTime);
    assert.deepEqual(fromTs(stored.stoppedTime), stoppedTime);
    assert.equal(stored.workspaceClass, "large");
  });

  it("is served over Connect JSON on HTTP/1.1 and reported SERVING by the health service", async () => {
    const id = randomUUID();
    const post = (method: string, body: unknown) =>
      fetch(`${t.tally.url}/usage.v1.WorkspaceInstanceService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));
    const upserted = await post("UpsertWorkspaceInstances", {
      instances: [{ id, workspaceId: "ws-json", startedTime: "2026-01-15T10:00:00.250Z" }],
    });
    assert.deepEqual(upserted, { status: 200, body: { upserted: "1" } });
    const got = await post("GetWorkspaceInstance", { id });
    assert.deepEqual(got.body, { id, workspaceId: "ws-json", startedTime: "2026-01-15T10:00:00.250Z" });
    const missing = await post("GetWorkspaceInstance", { id: randomUUID() });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "not_found");
    const health = createClient(Health, createGrpcTransport({ baseUrl: t.tally.url }));
    const { status } = await health.check({ service: "usage.v1.WorkspaceInstanceService" });
    assert.equal(status, HealthCheckResponse_ServingStatus.SERVING);
  });

  it("normalises upper-case ids to one instance", async () => {
    const id = randomUUID();
    await api.upsertWorkspaceInstances({ instances: [instanceReport({ id: id.toUpperCase(), attributionId: teamId().toUpperCase().replace("TEAM", "team") })] });
    const stored = await api.getWorkspaceInstance({ id: id.toUpperCase() });
    assert.equal(stored.id, id);
    assert.equal(stored.attributionId, stored.attributionId.toLowerCase());
  });
});
