// Wiring: the RPC services, health, reflection and plain HTTP endpoints on one port.
import type http from "node:http";
import { randomUUID } from "node:crypto";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { ConnectError, type ConnectRouter, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { file_health_v1_health, Health } from "./gen/health/v1/health_pb.js";
import * as reflectionV1 from "./gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";
import { BillingService, file_usage_v1_billing } from "./gen/usage/v1/billing_pb.js";
import { file_usage_v1_usage, UsageService } from "./gen/usage/v1/usage_pb.js";
import { listen, type HttpFront } from "./http-front.js";
import type { Logger } from "./logger.js";
import { errorMappingInterceptor } from "./rpc/errors.js";
import { minimalGrpcMessageEncoding } from "./rpc/grpc-message.js";
import { nodeAdapter } from "./rpc/node-adapter.js";
import { healthServiceImpl } from "./rpc/health-service.js";
import { createReflection } from "./rpc/reflection-service.js";
import { grpcCodeName, identityKey, requestIdKey } from "./rpc/request-context.js";
import { usageServiceImpl, type UsageServiceDeps } from "./rpc/usage-service.js";

/** Largest request body accepted, in bytes; an ingestion batch of 1000 instances fits easily. */
export const requestBytesMax = 8 * 1024 * 1024;

export type Request = Parameters<NodeHandler>[0];
export type Response = Parameters<NodeHandler>[1];
type NodeHandler = ReturnType<typeof nodeAdapter>;

/** A plain HTTP endpoint next to the RPCs (health probes, metrics, webhooks, dashboard). */
export type HttpRoute = (request: Request, response: Response) => Promise<boolean> | boolean;

/** One more RPC service on the port, with the file that defines it (for reflection). */
export interface HostedService {
  readonly service: DescService;
  readonly impl: ServiceImpl<DescService>;
  readonly file: DescFile;
}

export function hostedService<S extends DescService>(service: S, impl: ServiceImpl<S>, file: DescFile): HostedService {
  return { service, impl: impl as unknown as ServiceImpl<DescService>, file };
}

export interface ServerDeps {
  readonly logger: Logger;
  readonly usage: UsageServiceDeps;
  /** More RPC services (billing, accounts, ...). */
  readonly services?: readonly HostedService[];
  /** Database reachable and not shutting down. */
  readonly isServing: () => Promise<boolean>;
  /** More about readiness, added to /readyz's JSON (e.g. Gitpod's database); never changes its status. */
  readonly readinessDetail?: () => Promise<Record<string, unknown>>;
  /** Extra HTTP routes; each returns true when it handled the request. */
  readonly httpRoutes?: readonly HttpRoute[];
  readonly interceptors?: readonly Interceptor[];
}

export function rpcHandler(deps: ServerDeps) {
  const extra = deps.services ?? [];
  const extraNames = extra.map((hosted) => hosted.service.typeName);
  const hosted = [UsageService.typeName, ...extraNames, Health.typeName, reflectionV1.ServerReflection.typeName, reflectionV1alpha.ServerReflection.typeName];
  // Reflection describes every service it lists, itself and health included (generic tools such as
  // `buf curl --list-methods` resolve each listed name to its file).
  const files: DescFile[] = [
    file_usage_v1_usage,
    file_usage_v1_billing,
    file_health_v1_health,
    reflectionV1.file_grpc_reflection_v1_reflection,
    reflectionV1alpha.file_grpc_reflection_v1alpha_reflection,
  ];
  for (const { file } of extra) if (!files.some((known) => known.name === file.name)) files.push(file);
  const reflection = createReflection(files, hosted);
  const healthNames = [...new Set([UsageService.typeName, BillingService.typeName, ...extraNames])];
  const routes = (router: ConnectRouter) => {
    router.service(UsageService, usageServiceImpl(deps.usage));
    for (const { service, impl } of extra) router.service(service, impl);
    router.service(Health, healthServiceImpl({ serviceNames: healthNames, isServing: deps.isServing }));
    router.service(reflectionV1.ServerReflection, reflection.v1);
    router.service(reflectionV1alpha.ServerReflection, reflection.v1alpha);
  };
  const builtInRoutes: HttpRoute[] = [
    (request, response) => {
      if (request.url !== "/healthz") return false;
      sendJson(response, 200, { status: "ok" });
      return true;
    },
    async (request, response) => {
      if (request.url !== "/readyz") return false;
      const [ready, detail] = await Promise.all([
        deps.isServing().catch(() => false),
        deps.readinessDetail?.().catch((error: unknown) => ({ detailError: String(error) })),
      ]);
      sendJson(response, ready ? 200 : 503, { status: ready ? "ready" : "not ready", ...detail });
      return true;
    },
  ];
  const httpRoutes = [...builtInRoutes, ...(deps.httpRoutes ?? [])];
  const connectHandler = nodeAdapter({
    routes,
    readMaxBytes: requestBytesMax,
    interceptors: [requestLogInterceptor(deps.logger), ...(deps.interceptors ?? []), errorMappingInterceptor(deps.logger)],
    fallback: (request, response) => {
      void (async () => {
        for (const route of httpRoutes) {
          if (await route(request, response)) return;
        }
        sendJson(response, 404, { error: `no route for ${request.method} ${request.url}` });
      })().catch((error: unknown) => {
        deps.logger.error({ err: error, url: request.url }, "http route failed");
        if (!response.headersSent) sendJson(response, 500, { error: "internal error" });
      });
    },
  });
  return (request: Request, response: Response) => {
    const contentType = request.headers["content-type"];
    if (typeof contentType === "string" && /^application\/grpc(\+|;|$)/.test(contentType)) minimalGrpcMessageEncoding(response);
    connectHandler(request, response);
  };
}

export function sendJson(response: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  (response as http.ServerResponse).writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

/** Logs every RPC with a request id (taken from x-request-id, else generated) and its duration. */
function requestLogInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    // A client's id is kept only if it is short and printable: it goes into logs and audit rows.
    const given = request.header.get("x-request-id");
    const requestId = given && /^[\x21-\x7e]{1,128}$/.test(given) ? given : randomUUID();
    request.contextValues.set(requestIdKey, requestId);
    const started = performance.now();
    // `rpcService`, not `service`: the root logger's base already has `service: "tally"`, and pino
    // would write the key twice (log pipelines keep either one).
    const log = logger.child({ requestId, procedure: request.method.name, rpcService: request.service.typeName });
    const actor = () => request.contextValues.get(identityKey)?.name;
    try {
      const response = await next(request);
      response.header.set("x-request-id", requestId);
      log.debug({ durationMs: Math.round(performance.now() - started), actor: actor() }, "rpc ok");
      return response;
    } catch (error) {
      if (error instanceof ConnectError) error.metadata.set("x-request-id", requestId);
      log.info({ durationMs: Math.round(performance.now() - started), actor: actor(), code: grpcCodeName(error), error: String(error) }, "rpc failed");
      throw error;
    }
  };
}

export async function startServer(deps: ServerDeps, port: number, host: string): Promise<HttpFront> {
  return listen(rpcHandler(deps), port, host);
}
