// The API as the dashboard calls it: Connect (JSON over fetch) on the same origin, with the
// generated service descriptors and an optional bearer token kept for this browser tab only.
import { Code, ConnectError, createClient, type CallOptions, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AccountService } from "../../src/gen/usage/v1/account_pb.js";
import { AuditService } from "../../src/gen/usage/v1/audit_pb.js";
import { EventService } from "../../src/gen/usage/v1/event_pb.js";
import { ReportService } from "../../src/gen/usage/v1/report_pb.js";
import { UsageService } from "../../src/gen/usage/v1/usage_pb.js";

const tokenKey = "tally.apiToken";

/** The API token lives in sessionStorage: it survives reloads, not the closing of the tab. */
export const apiToken = {
  get: (): string => sessionStorage.getItem(tokenKey) ?? "",
  set: (token: string) => sessionStorage.setItem(tokenKey, token.trim()),
  clear: () => sessionStorage.removeItem(tokenKey),
};

const bearerToken: Interceptor = (next) => (request) => {
  const token = apiToken.get();
  if (token) request.header.set("Authorization", `Bearer ${token}`);
  return next(request);
};

const transport = createConnectTransport({ baseUrl: window.location.origin, interceptors: [bearerToken] });

export const usageClient = createClient(UsageService, transport);
export const reportClient = createClient(ReportService, transport);
export const accountClient = createClient(AccountService, transport);
export const auditClient = createClient(AuditService, transport);
export const eventClient = createClient(EventService, transport);

/**
 * One idempotency key per user action: the same form submitted again with the same values (after a
 * network error, or a second click) reuses its key, so the server books it once; changed values get
 * a new key. Call done() after success: the next submission is a new action.
 */
export function actionKey() {
  let last: { request: string; key: string } | undefined;
  return {
    options(request: unknown): CallOptions {
      const text = JSON.stringify(request);
      if (last?.request !== text) last = { request: text, key: randomKey() };
      return { headers: { "idempotency-key": last.key } };
    },
    done() {
      last = undefined;
    },
  };
}

/** A random UUID (v4); crypto.randomUUID exists only on https or localhost, getRandomValues everywhere. */
function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** An error as an operator should read it: the server's message, plus what to do about tokens. */
export function describeError(error: unknown): string {
  if (error instanceof ConnectError) {
    if (error.code === Code.Unauthenticated) {
      return `${error.rawMessage || "unauthenticated"}: this server needs an API token (set one under "API token" at the top).`;
    }
    if (error.code === Code.PermissionDenied) {
      return `${error.rawMessage || "permission denied"}: the API token's role does not allow this.`;
    }
    if (error.code === Code.Unavailable && /fetch/i.test(error.rawMessage)) return "The Tally server cannot be reached.";
    return error.rawMessage || Code[error.code];
  }
  return error instanceof Error ? error.message : String(error);
}

export function isAbort(error: unknown): boolean {
  return (error instanceof ConnectError && error.code === Code.Canceled) || (error instanceof DOMException && error.name === "AbortError");
}
