// Never INTERNAL for bad input, and typos refused: times outside what the database stores, malformed
// binary bodies over every protocol, strict Connect JSON on every service (binary protobuf keeps
// ignoring unknown fields), ids checked before they go to Stripe, webhooks that cannot be stored as
// they are, and the contract's zero billing strategy explained.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import Stripe from "stripe";
import { fromJson, toBinary, type DescService, type JsonObject } from "@bufbuild/protobuf";
import { Health } from "../src/gen/health/v1/health_pb.js";
import { AccountService } from "../src/gen/usage/v1/account_pb.js";
import { AuditService } from "../src/gen/usage/v1/audit_pb.js";
import { BillingService } from "../src/gen/usage/v1/billing_pb.js";
import { EventService } from "../src/gen/usage/v1/event_pb.js";
import { ReportService } from "../src/gen/usage/v1/report_pb.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceService } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { getInboxEvent } from "../src/store/webhook-inbox.js";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const services: DescService[] = [UsageService, BillingService, WorkspaceInstanceService, AccountService, ReportService, AuditService, EventService, Health];
const unaryMethods = services.flatMap((service) => service.methods.filter((method) => method.methodKind === "unary").map((method) => ({ service, method })));
/**
 * A request each service answers (billing is off here: BillingService answers failed_precondition, past
 * decoding), as protobuf JSON, and its answer: [HTTP status, Connect code].
 */
const team = teamId();
const validRequests: Record<string, { method: string; request: JsonObject; answer: [number, string | undefined] }> = {
  [UsageService.typeName]: { method: "getBalance", request: { attributionId: team }, answer: [200, undefined] },
  [BillingService.typeName]: { method: "getPriceInformation", request: { attributionId: team }, answer: [400, "failed_precondition"] },
  [WorkspaceInstanceService.typeName]: { method: "upsertWorkspaceInstances", request: { instances: [] }, answer: [200, undefined] },
  [AccountService.typeName]: { method: "getAccountStatus", request: { attributionId: team }, answer: [200, undefined] },
  [ReportService.typeName]: { method: "listCreditNotesAndInvoices", request: { attributionId: team }, answer: [200, undefined] },
  [AuditService.typeName]: { method: "listAuditEntries", request: { pageSize: 1 }, answer: [200, undefined] },
  [EventService.typeName]: { method: "listEvents", request: { pageSize: 1 }, answer: [200, undefined] },
  [Health.typeName]: { method: "check", request: { service: "" }, answer: [200, undefined] },
};
/** Field 1, length-delimited, with a length that never ends: not a protobuf message for any schema. */
const notProtobuf = Buffer.from([0x0a, 0xff, 0xff]);
/** Field 999 (varint 1): unknown to every message here. */
const unknownFieldNumber = Buffer.from([0xb8, 0x3e, 0x01]);

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly message: string;
}

describe("bad input never answers INTERNAL, and typos are refused", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });

  const connect = async (path: string, body: string | Buffer, contentType = "application/json"): Promise<Answer> => {
    const response = await fetch(`${t.tally.url}${path}`, { method: "POST", headers: { "content-type": contentType }, body });
    const text = await response.text();
    if (response.status === 200) return { status: 200, code: undefined, message: "" };
    const error = JSON.parse(text) as { code: string; message: string };
    return { status: response.status, code: error.code, message: error.message };
  };
  const grpcWeb = async (path: string, message: Buffer): Promise<{ status: string; message: string }> => {
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    // A connection of its own per call (as a browser's gRPC-Web client may use).
    const { bytes, response } = await new Promise<{ bytes: Buffer; response: { headers: Headers } }>((resolve, reject) => {
      const request = http.request(`${t.tally.url}${path}`, { method: "POST", agent: false, headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" } }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => resolve({ bytes: Buffer.concat(chunks), response: { headers: new Headers(answer.headers as Record<string, string>) } }));
      });
      request.on("error", reject);
      request.end(frame);
    });
    let trailer = "";
    for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt32BE(at + 1)) {
      if (bytes[at] === 0x80) trailer = bytes.subarray(at + 5, at + 5 + bytes.readUInt32BE(at + 1)).toString("utf8");
    }
    return { status: /grpc-status: *(\d+)/.exec(trailer)?.[1] ?? response.headers.get("grpc-status") ?? "?", message: decodeURIComponent(/grpc-message: *(.*)\r/.exec(trailer)?.[1] ?? "") };
  };
  const pathOf = (service: DescService, method: { name: string }) => `/${service.typeName}/${method.name}`;

  it("answers invalid_argument to a malformed binary body over Connect and gRPC-Web, on every unary RPC", async () => {
    for (const { service, method } of unaryMethods) {
      const overConnect = await connect(pathOf(service, method), notProtobuf, "application/proto");
      assert.deepEqual([overConnect.status, overConnect.code], [400, "invalid_argument"], `${pathOf(service, method)} over Connect: ${overConnect.message}`);
      assert.match(overConnect.message, /request is not a valid protobuf message/);
      const overGrpcWeb = await grpcWeb(pathOf(service, method), notProtobuf);
      assert.equal(overGrpcWeb.status, "3", `${pathOf(service, method)} over gRPC-Web: ${overGrpcWeb.message}`);
    }
  });

  it("refuses an unknown JSON field naming it, on every service; the same request as binary protobuf with an unknown field number is accepted", async () => {
    for (const service of services) {
      const { method, request, answer } = validRequests[service.typeName]!;
      const path = pathOf(service, service.method[method]!);
      const asJson = await connect(path, JSON.stringify(request));
      assert.deepEqual([asJson.status, asJson.code], answer, `${path} as JSON: ${asJson.message}`);
      const typo = await connect(path, JSON.stringify({ ...request, notAField: 1 }));
      assert.deepEqual([typo.status, typo.code], [400, "invalid_argument"], `${path}: ${typo.message}`);
      assert.match(typo.message, /unknown field "notAField"/);
      // The same request as binary protobuf, with field 999 appended: ignored (forward compatibility).
      const binary = Buffer.from(toBinary(service.method[method]!.input, fromJson(service.method[method]!.input, request)));
      const withUnknown = await connect(path, Buffer.concat([binary, unknownFieldNumber]), "application/proto");
      assert.deepEqual([withUnknown.status, withUnknown.code], answer, `${path} as binary with an unknown field: ${withUnknown.message}`);
      assert.deepEqual(withUnknown, await connect(path, binary, "application/proto"), `${path}: binary with an unknown field answers as without it`);
    }
    const instance = { id: "0a7dcf25-f05e-4dcf-9a47-cf8fccc74711", workspaceId: "ws-1", startTime: "2026-01-01T00:00:00Z" };
    const typo = await connect("/usage.v1.WorkspaceInstanceService/UpsertWorkspaceInstances", JSON.stringify({ instances: [instance] }));
    assert.equal(typo.code, "invalid_argument");
    assert.match(typo.message, /unknown field "instances\[0\]\.startTime".*startedTime/);
  });

  it("refuses unknown enum names, hex, fractional or exponent integers and impossible dates in JSON", async () => {
    const id = teamId();
    const listUsage = (body: object) => connect("/usage.v1.UsageService/ListUsage", JSON.stringify({ attributionId: id, ...body }));
    const cases: [object, RegExp][] = [
      [{ order: "NOPE" }, /Ordering.*"NOPE"/],
      [{ pagination: { perPage: "0x10" } }, /pagination\.perPage "0x10" is not a whole number/],
      [{ pagination: { perPage: 1.5 } }, /pagination\.perPage 1\.5 is not a whole number/],
      [{ pagination: { page: "1e2" } }, /pagination\.page "1e2" is not a whole number/],
      [{ from: "2026-02-30T00:00:00Z" }, /from "2026-02-30T00:00:00Z" is not a valid time: no such date/],
      [{ to: "2025-02-29T00:00:00Z" }, /no such date/],
      [{ to: "2026-01-01T24:00:00Z" }, /no such time of day/],
    ];
    for (const [body, message] of cases) {
      const answer = await listUsage(body);
      assert.deepEqual([answer.status, answer.code], [400, "invalid_argument"], JSON.stringify(body));
      assert.match(answer.message, message);
    }
    assert.equal((await listUsage({ from: "2024-02-29T00:00:00Z", to: "2024-03-01T00:00:00+01:00", order: "ORDERING_ASCENDING", pagination: { perPage: "10" } })).status, 200);
    const credit = await connect("/usage.v1.UsageService/AddUsageCreditNote", JSON.stringify({ attributionId: id, credits: "0x10", description: "x" }));
    assert.equal(credit.code, "invalid_argument");
    assert.equal((await t.usage.getBalance({ attributionId: id })).credits, 0);
  });

  it("refuses times outside what the database stores, given or derived, with INVALID_ARGUMENT", async () => {
    const id = teamId();
    const early = await connect("/usage.v1.UsageService/ListUsage", JSON.stringify({ attributionId: id, to: "0001-01-01T00:00:00Z" }));
    assert.deepEqual([early.status, early.code], [400, "invalid_argument"], early.message);
    assert.match(early.message, /from \(unset: 300 days before to\) is .*outside 0001-01-01/);
    const daily = await connect("/usage.v1.ReportService/ListDailyUsage", JSON.stringify({ attributionId: id, to: "0001-01-01T00:00:00Z" }));
    assert.deepEqual([daily.status, daily.code], [400, "invalid_argument"], daily.message);
    // An instance in range, so that reconciling reads the database with the window's bounds.
    await connect(
      "/usage.v1.WorkspaceInstanceService/UpsertWorkspaceInstances",
      JSON.stringify({ instances: [{ id: "0a7dcf25-f05e-4dcf-9a47-cf8fccc74712", workspaceId: "w", attributionId: id, startedTime: "2026-01-01T00:00:00Z", stoppedTime: "2026-01-01T01:00:00Z" }] }),
    );
    for (const to of ["9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59Z"]) {
      const reconcile = await connect("/usage.v1.UsageService/ReconcileUsage", JSON.stringify({ from: "0001-01-01T00:00:00Z", to }));
      assert.equal(reconcile.status, 200, `${to}: ${reconcile.code} ${reconcile.message}`);
    }
    const beyond = await t.usage.listUsage({ attributionId: id, to: { seconds: 253_402_300_800n, nanos: 0 } }).catch((error: { rawMessage: string }) => error.rawMessage);
    assert.match(String(beyond), /to seconds 253402300800 is outside 0001-01-01 \.\. 9999-12-31/);
  });

  it("explains that an omitted billingStrategy means STRIPE when billing is off", async () => {
    const answer = await connect("/usage.v1.UsageService/SetCostCenter", JSON.stringify({ costCenter: { attributionId: teamId(), spendingLimit: 5 } }));
    assert.equal(answer.code, "failed_precondition");
    assert.match(answer.message, /an omitted billingStrategy means STRIPE/);
    assert.match(answer.message, /send billingStrategy "BILLING_STRATEGY_OTHER" \(1\)/);
  });
});

describe("ids sent to Stripe are checked first", () => {
  let t: TestTally;
  let stripe: http.Server;
  let calls = 0;
  before(async () => {
    stripe = http.createServer((request, response) => {
      calls += 1;
      request.resume();
      response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { type: "invalid_request_error", message: "No such object" } }));
    });
    await new Promise<void>((resolve) => stripe.listen(0, "127.0.0.1", resolve));
    const apiBase = `http://127.0.0.1:${(stripe.address() as AddressInfo).port}`;
    t = await startTestTally({ env: { STRIPE_SECRET_KEY: "sk_test_x", STRIPE_WEBHOOK_SECRET: "whsec_x", STRIPE_API_BASE: apiBase } });
    await t.tally.billing.inbox?.stop();
  });
  after(async () => {
    await t?.stop();
    await new Promise((resolve) => stripe?.close(resolve));
  });

  it("refuses a 1 MB id on every RPC that passes one to Stripe, without calling Stripe", async () => {
    const huge = `in_${"x".repeat(1024 * 1024)}`;
    const requests: [string, object][] = [
      ["FinalizeInvoice", { invoiceId: huge }],
      ["CancelSubscription", { subscriptionId: huge }],
      ["UpdateCustomerSubscriptionsTaxState", { customerId: huge }],
      ["OnChargeDispute", { disputeId: huge }],
      ["GetStripeCustomer", { stripeCustomerId: huge }],
      ["GetStripeCustomer", { stripeCustomerId: "cus_\u0000" }],
    ];
    for (const [method, body] of requests) {
      const response = await fetch(`${t.tally.url}/usage.v1.BillingService/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const error = (await response.json()) as { code: string; message: string };
      assert.equal(error.code, "invalid_argument", `${method}: ${error.message}`);
      assert.match(error.message, /(is \d+ characters long, at most 255|is not a Stripe id)/);
    }
    assert.equal(calls, 0);
  });
});

describe("a validly signed Stripe webhook that cannot be stored as it is", () => {
  const secret = "whsec_test_fuzz";
  let t: TestTally;
  before(async () => {
    t = await startTestTally({ env: { STRIPE_SECRET_KEY: "sk_test_x", STRIPE_WEBHOOK_SECRET: secret } });
    await t.tally.billing.inbox?.stop();
  });
  after(async () => {
    await t?.stop();
  });
  const post = (payload: string) =>
    fetch(`${t.tally.url}/webhooks/stripe`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Math.floor(t.clock.now().getTime() / 1000) }),
      },
      body: payload,
    });

  it("stores NUL characters and lone surrogates as U+FFFD, and refuses deep nesting with a 4xx; never a 500", async () => {
    const nul = JSON.stringify({ id: "evt_nul\u0000", object: "event", type: "customer.updated", data: { object: { id: "cus_\u0000", name: "a\u0000b" } } });
    const surrogate = `{"id":"evt_surrogate","object":"event","type":"customer.updated","data":{"object":{"id":"cus_1","name":"x\\ud800y","\\udc00":1}}}`;
    for (const payload of [nul, surrogate]) {
      const response = await post(payload);
      assert.equal(response.status, 200, await response.text());
    }
    const storedNul = await getInboxEvent(t.tally.database.db, "evt_nul\ufffd");
    assert.equal((storedNul?.payload as { data: { object: { name: string } } }).data.object.name, "a\ufffdb");
    const storedSurrogate = await getInboxEvent(t.tally.database.db, "evt_surrogate");
    assert.equal((storedSurrogate?.payload as { data: { object: { name: string } } }).data.object.name, "x\ufffdy");

    const deep = `{"id":"evt_deep","object":"event","type":"customer.updated","data":{"object":{"id":"cus_1","x":${"[".repeat(10_000)}${"]".repeat(10_000)}}}}`;
    const response = await post(deep);
    assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`);
    assert.equal(await getInboxEvent(t.tally.database.db, "evt_deep"), undefined);
    assert.equal((await fetch(`${t.tally.url}/readyz`)).status, 200);
  });
});
