// Access control: for every RPC of every service the server hosts (listed by the server's own
// reflection, described by the generated descriptors, so a new service or RPC is covered without
// touching this file), each role gets exactly what the access table says.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { create, type DescFile, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { accessOf, isClassified, procedureAccess } from "../src/access/procedure-access.js";
import { Health } from "../src/gen/health/v1/health_pb.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { ServerReflection } from "../src/gen/grpc/reflection/v1/reflection_pb.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const adminToken = "admin-token-0123456789abcdef";
const readerToken = "reader-token-0123456789abcdef";
const apiTokens = `ops:admin:${adminToken},grafana:reader:${readerToken}`;

type Caller = { name: string; headers: Record<string, string> };
const callers: Caller[] = [
  { name: "no token", headers: {} },
  { name: "an unknown token", headers: { authorization: "Bearer not-a-token-this-server-knows" } },
  { name: "a malformed header", headers: { authorization: `Basic ${readerToken}` } },
  { name: "the reader token", headers: { authorization: `Bearer ${readerToken}` } },
  { name: "the admin token", headers: { authorization: `Bearer ${adminToken}` } },
];

/** The code a caller must get from an RPC of the given access, or undefined for "past access control". */
function expectedCode(caller: Caller, access: ReturnType<typeof accessOf>): Code | undefined {
  if (access === "open") return undefined;
  if (caller.name === "the admin token") return undefined;
  if (caller.name === "the reader token") return access === "read" ? undefined : Code.PermissionDenied;
  return Code.Unauthenticated;
}

async function callWith(service: DescService, method: DescMethod, baseUrl: string, headers: Record<string, string>): Promise<Code | "OK"> {
  const client = createClient(service, createConnectTransport({ baseUrl, httpVersion: "1.1" })) as unknown as Record<
    string,
    (request: unknown, options: { headers: Record<string, string> }) => Promise<unknown>
  >;
  try {
    await client[method.localName]!(create(method.input), { headers });
    return "OK";
  } catch (error) {
    assert.ok(error instanceof ConnectError, String(error));
    return error.code;
  }
}

const genDir = path.join(import.meta.dirname, "..", "src", "gen");

/** Every service in the generated code, by full name. */
async function generatedServices(dir = genDir): Promise<Map<string, DescService>> {
  const services = new Map<string, DescService>();
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      for (const [name, service] of await generatedServices(full)) services.set(name, service);
    } else if (entry.name.endsWith("_pb.ts")) {
      for (const value of Object.values((await import(full)) as Record<string, unknown>)) {
        if ((value as DescFile)?.kind === "file") for (const service of (value as DescFile).services) services.set(service.typeName, service);
      }
    }
  }
  return services;
}

/** The services the running server says it hosts (gRPC reflection, ListServices). */
async function servedServiceNames(baseUrl: string): Promise<string[]> {
  const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl }));
  async function* one() {
    yield { messageRequest: { case: "listServices" as const, value: "" } };
  }
  for await (const response of reflection.serverReflectionInfo(one())) {
    if (response.messageResponse.case === "listServicesResponse") return response.messageResponse.value.service.map((s) => s.name);
  }
  throw new Error("no ListServices answer");
}

describe("access control with TALLY_API_TOKENS", () => {
  let t: TestTally;
  let unary: Array<{ service: DescService; method: DescMethod }>;
  before(async () => {
    t = await startTestTally({ env: { TALLY_API_TOKENS: apiTokens } });
    const described = await generatedServices();
    const served = await servedServiceNames(t.tally.url);
    const undescribed = served.filter((name) => !described.has(name));
    assert.deepEqual(undescribed, [], "every served service has generated descriptors");
    unary = served.flatMap((name) => {
      const service = described.get(name)!;
      return service.methods.filter((m) => m.methodKind === "unary").map((method) => ({ service, method }));
    });
  });
  after(async () => {
    await t?.stop();
  });

  it("gives each role on every unary RPC of every served service what the access table says", async () => {
    assert.ok(unary.length >= 9, `only ${unary.length} unary RPCs found`);
    assert.ok(unary.some(({ service }) => service.typeName === "usage.v1.UsageService"));
    const checked: string[] = [];
    for (const { service, method } of unary) {
      const access = accessOf(service.typeName, method.name);
      const procedure = `${service.typeName}/${method.name} (${access})`;
      for (const caller of callers) {
        const got = await callWith(service, method, t.tally.url, caller.headers);
        const expected = expectedCode(caller, access);
        if (expected === undefined) {
          assert.ok(got !== Code.Unauthenticated && got !== Code.PermissionDenied, `${procedure}, ${caller.name}: refused with ${Code[got as Code]}`);
        } else {
          assert.equal(got, expected, `${procedure}, ${caller.name}: expected ${Code[expected]}, got ${got === "OK" ? "OK" : Code[got]}`);
        }
      }
      checked.push(procedure);
    }
    // For the test log: the RPCs this run covered.
    console.log(`checked ${checked.length} RPCs x ${callers.length} callers:\n  ${checked.join("\n  ")}`);
  });

  it("says what is missing and which role is needed", async () => {
    const client = createClient(UsageService, createGrpcTransport({ baseUrl: t.tally.url }));
    await assert.rejects(client.addUsageCreditNote({}), (error: ConnectError) => {
      assert.equal(error.code, Code.Unauthenticated);
      assert.match(error.rawMessage, /Authorization: Bearer/);
      return true;
    });
    await assert.rejects(client.addUsageCreditNote({}, { headers: { authorization: `Bearer ${readerToken}` } }), (error: ConnectError) => {
      assert.equal(error.code, Code.PermissionDenied);
      assert.match(error.rawMessage, /token "grafana" has role reader; usage\.v1\.UsageService\/AddUsageCreditNote changes data and needs role admin/);
      return true;
    });
  });

  it("keeps gRPC health checks (unary and streaming) open", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: t.tally.url }));
    assert.equal((await health.check({ service: "" })).status, 1);
    for await (const response of health.watch({ service: "" })) {
      assert.equal(response.status, 1);
      break;
    }
  });

  describe("plain HTTP routes", () => {
    const status = async (pathname: string, init: RequestInit = {}) => (await fetch(`${t.tally.url}${pathname}`, init)).status;
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

    it("leaves the probes open", async () => {
      assert.equal(await status("/healthz"), 200);
      assert.equal(await status("/readyz"), 200);
    });

    it("needs a reader or admin token for /metrics", async () => {
      const refused = await fetch(`${t.tally.url}/metrics`);
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("www-authenticate"), 'Bearer realm="tally"');
      assert.equal(await status("/metrics", bearer("wrong-token-wrong-token")), 401);
      assert.equal(await status("/metrics", bearer(readerToken)), 200);
      assert.equal(await status("/metrics", bearer(adminToken)), 200);
    });

    it("needs reader for GET /api/... and admin for changes there", async () => {
      // No route answers /api/x here: past the guard the request reaches the 404 fallback.
      assert.equal(await status("/api/x"), 401);
      assert.equal(await status("/api/x", bearer(readerToken)), 404);
      assert.equal(await status("/api/x", { method: "POST", ...bearer(readerToken) }), 403);
      assert.equal(await status("/api/x", { method: "POST", ...bearer(adminToken) }), 404);
    });

    it("leaves the dashboard's pages open (they hold no data) and guards other methods", async () => {
      assert.equal(await status("/some/page"), 404);
      assert.equal(await status("/some/page", { method: "POST" }), 401);
    });

    it("lets Stripe webhooks through to their signature check", async () => {
      assert.notEqual(await status("/webhooks/stripe", { method: "POST", body: "{}" }), 401);
    });
  });
});

describe("the access table", () => {
  it("classifies every RPC of every service in the generated code, so none falls to the default by accident", async () => {
    const unclassified: string[] = [];
    for (const service of (await generatedServices()).values()) {
      // src/gen/gitpod holds the client of Gitpod's public API, which Tally calls and never serves.
      if (service.typeName.startsWith("gitpod.")) continue;
      for (const method of service.methods) {
        if (!isClassified(service.typeName, method.name)) unclassified.push(`${service.typeName}/${method.name}`);
      }
    }
    assert.deepEqual(unclassified, []);
  });

  it("agrees with the names: Get*, List* and Summarize* RPCs read, every other RPC mutates", () => {
    for (const [procedure, access] of Object.entries(procedureAccess)) {
      const method = procedure.split("/")[1]!;
      const reads = /^(Get|List|Summarize)[A-Z]/.test(method);
      assert.equal(access, reads ? "read" : "mutate", procedure);
    }
  });

  it("treats unknown procedures as admin-only mutations", () => {
    assert.equal(accessOf("usage.v1.NewService", "DoSomething"), "mutate");
    assert.equal(accessOf("usage.v1.UsageService", "GetBalance"), "read");
    assert.equal(accessOf("grpc.health.v1.Health", "Watch"), "open");
  });
});
