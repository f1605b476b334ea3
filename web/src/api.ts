// The API as the dashboard calls it: Connect (JSON over fetch) on the same origin, with the
// generated service descriptors and an optional bearer token kept for this browser tab only.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AccountService } from "../../src/gen/usage/v1/account_pb.js";
import { AuditService } from "../../src/gen/usage/v1/audit_pb.js";
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
