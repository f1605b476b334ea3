// Values that interceptors share about one RPC: its request id and who called it.
import { Code, ConnectError, createContextKey } from "@connectrpc/connect";
import type { Identity } from "../access/api-tokens.js";

/** Set by the request-log interceptor (from x-request-id, else generated). */
export const requestIdKey = createContextKey<string | undefined>(undefined, { description: "request id" });

/** Set by the access interceptor once the bearer token is verified; absent when access control is off. */
export const identityKey = createContextKey<Identity | undefined>(undefined, { description: "caller identity" });

/** gRPC code names as the gRPC spec writes them ("OK", "INVALID_ARGUMENT"), for metrics, logs and audit rows. */
export function grpcCodeName(error: unknown): string {
  if (error === undefined) return "OK";
  const code = error instanceof ConnectError ? error.code : Code.Internal;
  if (code === Code.Canceled) return "CANCELLED";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}
