// Per-RPC latency and outcome, into the process's metrics.
import type { Interceptor } from "@connectrpc/connect";
import type { TallyMetrics } from "../observability/metrics.js";
import { grpcCodeName } from "./request-context.js";

export function metricsInterceptor(metrics: TallyMetrics): Interceptor {
  return (next) => async (request) => {
    const started = performance.now();
    const observe = (error: unknown) =>
      metrics.observeRpc(request.service.typeName, request.method.name, grpcCodeName(error), (performance.now() - started) / 1000);
    try {
      const response = await next(request);
      observe(undefined);
      return response;
    } catch (error) {
      observe(error);
      throw error;
    }
  };
}
