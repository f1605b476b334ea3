// One port, every protocol: gRPC (grpc-js and Connect), gRPC-Web, Connect JSON over HTTP/1.1 and
// HTTP/2, plain curl, the gRPC health service and server reflection.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../src/gen/health/v1/health_pb.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const run = promisify(execFile);
const nodeModules = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "..", "node_modules");

describe("protocols on one port", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });

  it("answers the same balance over gRPC, gRPC-Web and Connect JSON on HTTP/1.1", async () => {
    const id = teamId();
    await t.usage.addUsageCreditNote({ attributionId: id, credits: 3, description: "welcome" });
    const web = createClient(UsageService, createGrpcWebTransport({ baseUrl: t.tally.url, httpVersion: "1.1" }));
    assert.equal((await t.usage.getBalance({ attributionId: id })).credits, -3);
    assert.equal((await t.usageJson.getBalance({ attributionId: id })).credits, -3);
    assert.equal((await web.getBalance({ attributionId: id })).credits, -3);
    assert.equal((await t.grpc.getBalance({ attributionId: id })).credits, -3);
  });

  it("maps errors to the same code on every protocol", async () => {
    for (const client of [t.usage, t.usageJson]) {
      await assert.rejects(client.getBalance({ attributionId: "nope" }), (e: unknown) => {
        assert.ok(e instanceof ConnectError);
        assert.equal(e.code, Code.InvalidArgument);
        return true;
      });
    }
  });

  it("serves Connect JSON to curl over HTTP/1.1 and HTTP/2", async () => {
    const id = teamId();
    for (const flag of ["--http1.1", "--http2-prior-knowledge"]) {
      const { stdout } = await run("curl", [
        "-sS", flag, "-X", "POST", "-H", "content-type: application/json",
        "-d", JSON.stringify({ attributionId: id }),
        `${t.tally.url}/usage.v1.UsageService/GetCostCenter`,
      ]);
      const body = JSON.parse(stdout);
      assert.equal(body.costCenter.attributionId, id);
      assert.equal(body.costCenter.billingStrategy, "BILLING_STRATEGY_OTHER");
    }
    const { stdout } = await run("curl", ["-sS", "-X", "POST", "-H", "content-type: application/json", "-d", "{\"attributionId\":\"x\"}", `${t.tally.url}/usage.v1.UsageService/GetBalance`]);
    assert.equal(JSON.parse(stdout).code, "invalid_argument");
  });

  it("serves /healthz and /readyz", async () => {
    assert.equal((await fetch(`${t.tally.url}/healthz`)).status, 200);
    const ready = await fetch(`${t.tally.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready" });
    assert.equal((await fetch(`${t.tally.url}/no-such-page`)).status, 404);
  });

  it("answers grpc.health.v1.Health Check and List for the server and each service", async () => {
    const definition = protoLoader.loadSync(path.join(nodeModules, "grpc-health-check/proto/health/v1/health.proto"), { defaults: true, enums: String });
    const Health = (grpc.loadPackageDefinition(definition) as any).grpc.health.v1.Health;
    const client = new Health(`127.0.0.1:${t.tally.port}`, grpc.credentials.createInsecure());
    const call = (method: string, request: object) =>
      new Promise<any>((resolve, reject) => client[method](request, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))));
    try {
      assert.equal((await call("Check", { service: "" })).status, "SERVING");
      assert.equal((await call("Check", { service: "usage.v1.UsageService" })).status, "SERVING");
      await assert.rejects(call("Check", { service: "no.Such" }), (e: any) => e.code === grpc.status.NOT_FOUND);
      const list = await call("List", {});
      assert.equal(list.statuses["usage.v1.UsageService"].status, "SERVING");
    } finally {
      client.close();
    }
  });

  it("streams the serving status to Health/Watch and reports unknown services as SERVICE_UNKNOWN", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: t.tally.url }));
    for (const [service, expected] of [["usage.v1.UsageService", ServingStatus.SERVING], ["no.Such", ServingStatus.SERVICE_UNKNOWN]] as const) {
      const abort = new AbortController();
      const stream = health.watch({ service }, { signal: abort.signal });
      for await (const response of stream) {
        assert.equal(response.status, expected);
        break;
      }
      abort.abort();
    }
  });

  it("lets a generic client discover and describe the services through reflection", async () => {
    const definition = protoLoader.loadSync(path.join(nodeModules, "@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto"), {
      defaults: true,
      oneofs: true,
    });
    const Reflection = (grpc.loadPackageDefinition(definition) as any).grpc.reflection.v1.ServerReflection;
    const client = new Reflection(`127.0.0.1:${t.tally.port}`, grpc.credentials.createInsecure());
    try {
      const responses = await new Promise<any[]>((resolve, reject) => {
        const stream = client.ServerReflectionInfo();
        const received: any[] = [];
        stream.on("data", (r: unknown) => {
          received.push(r);
          if (received.length === 3) stream.end();
        });
        stream.on("end", () => resolve(received));
        stream.on("error", reject);
        stream.write({ listServices: "" });
        stream.write({ fileContainingSymbol: "usage.v1.UsageService" });
        stream.write({ fileContainingSymbol: "usage.v1.NoSuchThing" });
      });
      const services = responses[0].listServicesResponse.service.map((s: { name: string }) => s.name);
      assert.ok(services.includes("usage.v1.UsageService"));
      assert.ok(services.includes("grpc.health.v1.Health"));
      const files = responses[1].fileDescriptorResponse.fileDescriptorProto.map((bytes: Uint8Array) => fromBinary(FileDescriptorProtoSchema, bytes));
      const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
      const service = registry.getService("usage.v1.UsageService");
      assert.ok(service);
      assert.deepEqual(service.methods.map((m) => m.name).sort(), [
        "AddUsageCreditNote", "GetBalance", "GetCostCenter", "ListUsage", "ReconcileUsage", "ResetUsage", "SetCostCenter",
      ]);
      assert.equal(responses[2].errorResponse.errorCode, grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
});
