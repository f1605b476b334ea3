// Server reflection serves every file: a generic tool (`buf curl`, from the @bufbuild/buf package)
// lists every method of every service over gRPC, Connect and gRPC-Web, and resolves the message
// types of a method to call it; a message type asked for by name comes back described in full.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ServerReflection, ServerReflectionRequestSchema, type ServerReflectionRequest } from "../src/gen/grpc/reflection/v1/reflection_pb.js";
import { file_health_v1_health } from "../src/gen/health/v1/health_pb.js";
import { file_grpc_reflection_v1_reflection } from "../src/gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_usage_v1_account } from "../src/gen/usage/v1/account_pb.js";
import { file_usage_v1_audit } from "../src/gen/usage/v1/audit_pb.js";
import { file_usage_v1_billing } from "../src/gen/usage/v1/billing_pb.js";
import { file_usage_v1_event } from "../src/gen/usage/v1/event_pb.js";
import { file_usage_v1_report } from "../src/gen/usage/v1/report_pb.js";
import { file_usage_v1_usage } from "../src/gen/usage/v1/usage_pb.js";
import { file_usage_v1_workspace_instance } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const buf = path.join(root, "node_modules", ".bin", "buf");
const run = promisify(execFile);
const protocols = ["grpc", "connect", "grpcweb"] as const;

/** Every method the server should describe: all services of the generated files it hosts. */
const allMethods = [
  file_usage_v1_usage,
  file_usage_v1_billing,
  file_usage_v1_workspace_instance,
  file_usage_v1_account,
  file_usage_v1_report,
  file_usage_v1_audit,
  file_usage_v1_event,
  file_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
].flatMap((file) => file.services.flatMap((service) => service.methods.map((method) => `${service.typeName}/${method.name}`)));
/** Every service: each usage.v1 service, health, and reflection (v1 and v1alpha). */
const allServices = [...new Set(allMethods.map((method) => method.slice(0, method.indexOf("/"))))].sort();

async function bufCurl(protocol: string, args: string[]): Promise<string> {
  const { stdout } = await run(buf, ["curl", "--protocol", protocol, "--http2-prior-knowledge", ...args], { timeout: 60_000 });
  return stdout;
}

describe("server reflection, as generic tools use it", () => {
  let t: TestTally;
  let baseUrl: string;

  before(async () => {
    t = await startTestTally();
    baseUrl = `http://127.0.0.1:${t.tally.port}`;
  });
  after(async () => {
    await t?.stop();
  });

  for (const protocol of protocols) {
    it(`buf curl --protocol ${protocol} lists every service and every method of each`, async () => {
      // buf curl lists from a base URL only (with reflection, it refuses a service in the URL).
      const services = (await bufCurl(protocol, ["--list-services", baseUrl])).trim().split("\n").sort();
      assert.deepEqual(services, allServices, `services listed over ${protocol}`);
      const listed = (await bufCurl(protocol, ["--list-methods", baseUrl])).trim().split("\n").sort();
      assert.deepEqual(listed, [...allMethods].sort(), `methods listed over ${protocol}`);
    });

    it(`buf curl --protocol ${protocol} resolves a method's message types through reflection and calls it`, async () => {
      const body = JSON.stringify({ attributionId: "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717" });
      const out = await bufCurl(protocol, ["-d", body, `${baseUrl}/usage.v1.UsageService/GetCostCenter`]);
      const answer = JSON.parse(out) as { costCenter?: { attributionId?: string; billingStrategy?: string } };
      assert.equal(answer.costCenter?.attributionId, "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717");
    });
  }

  const transports: Record<(typeof protocols)[number], () => Transport> = {
    grpc: () => createGrpcTransport({ baseUrl }),
    connect: () => createConnectTransport({ baseUrl, httpVersion: "2" }),
    grpcweb: () => createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  };
  for (const protocol of protocols) {
    it(`describes a message type asked for by name, over ${protocol}`, async () => {
      const client = createClient(ServerReflection, transports[protocol]());
      async function* ask(): AsyncIterable<ServerReflectionRequest> {
        yield create(ServerReflectionRequestSchema, { messageRequest: { case: "fileContainingSymbol", value: "usage.v1.CostCenter" } });
        yield create(ServerReflectionRequestSchema, { messageRequest: { case: "fileContainingSymbol", value: "usage.v1.CostCenter.BillingStrategy" } });
      }
      const answers = [];
      for await (const response of client.serverReflectionInfo(ask())) answers.push(response);
      assert.equal(answers.length, 2);
      for (const response of answers) {
        assert.equal(response.messageResponse.case, "fileDescriptorResponse");
        const files = response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
        const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
        const message = registry.getMessage("usage.v1.CostCenter");
        assert.ok(message, "usage.v1.CostCenter is not described");
        assert.ok(message.fields.some((field) => field.name === "attribution_id"));
        assert.ok(registry.getEnum("usage.v1.CostCenter.BillingStrategy"));
      }
    });
  }
});
