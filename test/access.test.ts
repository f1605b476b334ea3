// Access control: for every RPC of every hosted service (walked from the service descriptors, so a
// new RPC is covered without touching this file), each role gets exactly what the access table says.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { create, type DescFile, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { accessOf, isClassified, procedureAccess } from "../src/access/procedure-access.js";
import { hostedServices } from "../src/server.js";
import { Health } from "../src/gen/health/v1/health_pb.js";
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

describe("access control with TALLY_API_TOKENS", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally({ env: { TALLY_API_TOKENS: apiTokens } });
  });
  after(async () => {
    await t?.stop();
  });

  const unary = hostedServices.flatMap((service) => service.methods.filter((m) => m.methodKind === "unary").map((method) => ({ service, method })));
  it("walks a real list of RPCs", () => {
    assert.ok(unary.length >= 8, `only ${unary.length} unary RPCs found`);
  });

  for (const { service, method } of unary) {
    const access = accessOf(service.typeName, method.name);
    it(`${service.typeName}/${method.name} (${access}): each role gets what the table says`, async () => {
      for (const caller of callers) {
        const got = await callWith(service, method, t.tally.url, caller.headers);
        const expected = expectedCode(caller, access);
        if (expected === undefined) {
          assert.ok(got !== Code.Unauthenticated && got !== Code.PermissionDenied, `${caller.name}: refused with ${Code[got as Code]}`);
        } else {
          assert.equal(got, expected, `${caller.name}: expected ${Code[expected]}, got ${got === "OK" ? "OK" : Code[got]}`);
        }
      }
    });
  }

  it("says what is missing and which role is needed", async () => {
    const client = createClient(hostedServices[0]!, createGrpcTransport({ baseUrl: t.tally.url })) as any;
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
  it("classifies every RPC of every usage.v1 service in the generated code, so none falls to the default by accident", async () => {
    const dir = path.join(import.meta.dirname, "..", "src", "gen", "usage", "v1");
    const unclassified: string[] = [];
    for (const file of fs.readdirSync(dir).filter((name) => name.endsWith("_pb.ts"))) {
      const module = (await import(path.join(dir, file))) as Record<string, unknown>;
      for (const value of Object.values(module)) {
        if ((value as DescFile)?.kind !== "file") continue;
        for (const service of (value as DescFile).services) {
          for (const method of service.methods) {
            if (!isClassified(service.typeName, method.name)) unclassified.push(`${service.typeName}/${method.name}`);
          }
        }
      }
    }
    assert.deepEqual(unclassified, []);
  });

  it("agrees with the names: Get* and List* RPCs read, every other RPC mutates", () => {
    for (const [procedure, access] of Object.entries(procedureAccess)) {
      const method = procedure.split("/")[1]!;
      assert.equal(access, /^(Get|List)[A-Z]/.test(method) ? "read" : "mutate", procedure);
    }
  });

  it("treats unknown procedures as admin-only mutations", () => {
    assert.equal(accessOf("usage.v1.NewService", "DoSomething"), "mutate");
    assert.equal(accessOf("usage.v1.UsageService", "GetBalance"), "read");
    assert.equal(accessOf("grpc.health.v1.Health", "Watch"), "open");
  });
});

describe("access control off (no TALLY_API_TOKENS)", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });

  it("lets every caller read and change, and serves /metrics without a token", async () => {
    const [service] = hostedServices;
    const method = service!.methods.find((m) => m.name === "ResetUsage")!;
    assert.equal(await callWith(service!, method, t.tally.url, {}), "OK");
    assert.equal((await fetch(`${t.tally.url}/metrics`)).status, 200);
  });
});
