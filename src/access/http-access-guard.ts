// The HTTP route that runs before every other plain HTTP route: it answers 401/403 for requests
// the rules of http-access.ts refuse, and lets the others through.
import { sendJson, type HttpRoute } from "../server.js";
import type { ApiToken } from "./api-tokens.js";
import { decideHttpAccess } from "./http-access.js";

export function httpAccessGuard(tokens: readonly ApiToken[] | undefined): HttpRoute {
  return (request, response) => {
    const decision = decideHttpAccess(tokens, request.method ?? "GET", request.url ?? "/", request.headers);
    if (decision.allowed) return false;
    if (decision.status === 401) response.setHeader("www-authenticate", 'Bearer realm="tally"');
    sendJson(response, decision.status, { error: decision.message });
    return true;
  };
}
