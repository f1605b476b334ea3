// Access rules for the plain HTTP routes next to the RPCs, and the guard that applies them.
//
// | path                         | needs                                              |
// | /healthz, /readyz            | nothing (probes)                                   |
// | /webhooks/stripe             | nothing here: the Stripe signature is checked      |
// | /metrics                     | a reader or admin token                            |
// | /api/...                     | reader for GET and HEAD, admin for other methods   |
// | any other GET or HEAD        | nothing: the dashboard's page and static assets    |
// |                              | hold no data; the data comes through guarded RPCs  |
// | anything else                | admin                                              |
import type { IncomingHttpHeaders } from "node:http";
import { bearerToken, verifyToken, type ApiToken } from "./api-tokens.js";
import { mayCall, type Access } from "./procedure-access.js";

const openPaths = new Set(["/healthz", "/readyz", "/webhooks/stripe"]);

export function httpAccessOf(method: string, pathname: string): Access {
  const reading = method === "GET" || method === "HEAD";
  if (openPaths.has(pathname)) return "open";
  if (pathname === "/metrics") return "read";
  if (pathname === "/api" || pathname.startsWith("/api/")) return reading ? "read" : "mutate";
  return reading ? "open" : "mutate";
}

export type HttpAccessDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly status: 401 | 403; readonly message: string };

/** `tokens` undefined means access control is off. */
export function decideHttpAccess(
  tokens: readonly ApiToken[] | undefined,
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
): HttpAccessDecision {
  if (!tokens) return { allowed: true };
  const pathname = new URL(url, "http://localhost").pathname;
  const access = httpAccessOf(method, pathname);
  if (access === "open") return { allowed: true };
  const presented = bearerToken(headers.authorization);
  if (presented === undefined) {
    return { allowed: false, status: 401, message: "this server needs a token: send the header Authorization: Bearer <token>" };
  }
  const identity = verifyToken(tokens, presented);
  if (!identity) return { allowed: false, status: 401, message: "the bearer token is not one this server knows" };
  if (!mayCall(identity, access)) {
    return { allowed: false, status: 403, message: `token "${identity.name}" has role ${identity.role}; ${method} ${pathname} needs role admin` };
  }
  return { allowed: true };
}
