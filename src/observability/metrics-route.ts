// GET /metrics: the Prometheus exposition of this process.
import type http from "node:http";
import { type HttpRoute } from "../server.js";
import type { TallyMetrics } from "./metrics.js";

export function metricsRoute(metrics: TallyMetrics): HttpRoute {
  return async (request, response) => {
    if (new URL(request.url ?? "/", "http://localhost").pathname !== "/metrics") return false;
    const { contentType, body } = await metrics.render();
    (response as http.ServerResponse).writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(body) });
    if (request.method === "HEAD") response.end();
    else response.end(body);
    return true;
  };
}
