// Blocked status through usage.v1.AccountService.GetAccountStatus (SPEC.md Part C: blocked, reason,
// blocked_time, ...). That service is added on another branch; until its generated code is in
// src/gen here, it is called as plain Connect JSON, so the dashboard shows the status as soon as
// the server serves it, and says "not available" before.
import { authorizationHeader } from "./api.js";

export type AccountStatus =
  | { readonly kind: "served"; readonly blocked: boolean; readonly reason: string; readonly blockedTime: Date | undefined }
  | { readonly kind: "not-served" }
  | { readonly kind: "failed"; readonly message: string };

interface StatusJson {
  blocked?: boolean;
  reason?: string;
  blockedTime?: string;
  code?: string;
  message?: string;
}

export async function fetchAccountStatus(attributionId: string, signal: AbortSignal): Promise<AccountStatus> {
  const response = await fetch("/usage.v1.AccountService/GetAccountStatus", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1", ...authorizationHeader() },
    body: JSON.stringify({ attributionId }),
    signal,
  });
  const body = (await response.json().catch(() => ({}))) as StatusJson;
  // The server answers 404 for a procedure it does not host; Connect says "unimplemented".
  if (response.status === 404 || body.code === "unimplemented") return { kind: "not-served" };
  if (!response.ok) return { kind: "failed", message: body.message ?? `HTTP ${response.status}` };
  const blockedTime = body.blockedTime ? new Date(body.blockedTime) : undefined;
  return {
    kind: "served",
    blocked: body.blocked === true,
    reason: body.reason ?? "",
    blockedTime: blockedTime && !Number.isNaN(blockedTime.getTime()) ? blockedTime : undefined,
  };
}
