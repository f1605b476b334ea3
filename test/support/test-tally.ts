// Starts a real Tally server on a free port for a test, with clients: a plain gRPC client
// (@grpc/grpc-js loading the .proto files, which proves wire compatibility) and Connect clients.
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Client, type Code } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { startTally, type Tally } from "../../src/app.js";
import { loadConfig, type TallyConfig } from "../../src/config.js";
import { ManualClock, type Clock } from "../../src/domain/clock.js";
import { UsageService } from "../../src/gen/usage/v1/usage_pb.js";
import { silentLogger, type Logger } from "../../src/logger.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export const protoDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "proto");

export interface TestTally {
  readonly tally: Tally;
  readonly database: TestDatabase;
  readonly clock: ManualClock;
  /** A plain gRPC client from the .proto files; methods are promisified, errors carry `.code`. */
  readonly grpc: PromisifiedClient<MethodOf<typeof UsageService>>;
  /** A Connect client speaking the gRPC protocol over HTTP/2. */
  readonly usage: Client<typeof UsageService>;
  /** A Connect client speaking the Connect protocol (JSON) over HTTP/1.1. */
  readonly usageJson: Client<typeof UsageService>;
  stop(): Promise<void>;
}

// The grpc-js client's responses are plain objects shaped by proto-loader's options; tests read
// them loosely, as any client of the wire would.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type PromisifiedClient<M extends string> = Record<M, (request: object) => Promise<any>>;
/** The method names of a generated service, lowerCamel as both grpc-js and Connect name them. */
export type MethodOf<S extends DescService> = Extract<keyof S["method"], string>;
/** A grpc-js client of one service; close it when done. */
export interface GrpcClient<S extends DescService> {
  readonly methods: PromisifiedClient<MethodOf<S>>;
  close(): void;
}

export interface TestTallyOptions {
  readonly clock?: ManualClock;
  readonly env?: Record<string, string>;
  /** Reuse a database (e.g. for restarts); it is then not dropped on stop. */
  readonly database?: TestDatabase;
  /** Where Tally logs; silent by default. */
  readonly logger?: Logger;
}

export async function startTestTally(options: TestTallyOptions = {}): Promise<TestTally> {
  const database = options.database ?? (await createTestDatabase());
  const clock = options.clock ?? new ManualClock(new Date("2026-01-15T12:00:00Z"));
  const config: TallyConfig = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    TALLY_DATA_DIR: database.dataDir,
    TALLY_JOBS: "off",
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    // Tests run on loopback without tokens unless they give some (see Access control).
    ...(options.env?.TALLY_API_TOKENS === undefined ? { TALLY_AUTH: "off" } : {}),
    ...options.env,
  });
  const tally = await startTally(config, { clock: clock as Clock, logger: options.logger ?? silentLogger });
  const grpcClient = grpcClientFor(`127.0.0.1:${tally.port}`, UsageService);
  const usage = createClient(UsageService, createGrpcTransport({ baseUrl: tally.url }));
  const usageJson = createClient(UsageService, createConnectTransport({ baseUrl: tally.url, httpVersion: "1.1" }));
  return {
    tally,
    database,
    clock,
    grpc: grpcClient.methods,
    usage,
    usageJson,
    async stop() {
      grpcClient.close();
      await tally.close();
      if (!options.database) await database.drop();
    },
  };
}

const packageDefinition = protoLoader.loadSync(
  ["usage/v1/usage.proto", "usage/v1/billing.proto", "usage/v1/workspace_instance.proto", "usage/v1/account.proto", "usage/v1/event.proto"],
  { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(packageDefinition) as any;

/** A grpc-js client (from the .proto files, not the generated code) of `service` at `address`. */
export function grpcClientFor<S extends DescService>(address: string, service: S): GrpcClient<S> {
  const [pkg, version, name] = service.typeName.split(".") as [string, string, string];
  const Constructor = loaded[pkg][version][name] as typeof grpc.Client;
  const client = new Constructor(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  const methods = {} as Record<string, (request: object) => Promise<unknown>>;
  for (const key of Object.keys(Constructor.prototype)) {
    const method = (client as any)[key];
    if (typeof method !== "function") continue;
    methods[key] = (request: object) =>
      new Promise((resolve, reject) => {
        method.call(client, request, (error: grpc.ServiceError | null, response: unknown) =>
          error ? reject(error) : resolve(response),
        );
      });
  }
  return { methods: methods as PromisifiedClient<MethodOf<S>>, close: () => client.close() };
}

export const grpcStatus = grpc.status;

/** Asserts that a grpc-js call fails with `code` and, if given, a message matching `messagePart`. */
export async function rejects(call: Promise<unknown>, code: number, messagePart?: RegExp): Promise<void> {
  await assert.rejects(call, (error: { code: number; details: string }) => {
    assert.equal(error.code, code, `expected code ${code}, got ${error.code}: ${error.details}`);
    if (messagePart) assert.match(error.details, messagePart);
    return true;
  });
}

/** Asserts that a Connect client's call fails with `code` and a message matching `messagePart`. */
export async function rejectsConnect(call: Promise<unknown>, code: Code, messagePart: RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.rawMessage, messagePart);
    return true;
  });
}
