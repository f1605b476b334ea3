// The audit log through usage.v1.AuditService.ListAuditEntries (one entry per mutating call, with
// actor, call, details and outcome). That service is added on another branch; until its generated
// code is in src/gen here, it is called as plain Connect JSON, like the account status, so the
// dashboard shows the log as soon as the server serves it and says "not available" before.
import { authorizationHeader } from "./api.js";

export interface AuditEntry {
  readonly id: string;
  readonly time: Date | undefined;
  readonly actor: string;
  /** "package.Service/Method" */
  readonly procedure: string;
  readonly details: string;
  /** "OK" or a gRPC code name */
  readonly outcome: string;
  readonly errorMessage: string;
}

export type AuditPage =
  | { readonly kind: "served"; readonly entries: AuditEntry[]; readonly nextPageToken: string }
  | { readonly kind: "not-served" };

interface PageJson {
  entries?: Array<Partial<Record<keyof AuditEntry | "time", string>>>;
  nextPageToken?: string;
  code?: string;
  message?: string;
}

export async function fetchAuditPage(attributionId: string, pageSize: number, pageToken: string, signal: AbortSignal): Promise<AuditPage> {
  const response = await fetch("/usage.v1.AuditService/ListAuditEntries", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Connect-Protocol-Version": "1", ...authorizationHeader() },
    body: JSON.stringify({ attributionId, pageSize, pageToken }),
    signal,
  });
  const body = (await response.json().catch(() => ({}))) as PageJson;
  if (response.status === 404 || body.code === "unimplemented") return { kind: "not-served" };
  if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
  return {
    kind: "served",
    entries: (body.entries ?? []).map((entry) => {
      const time = entry.time ? new Date(entry.time) : undefined;
      return {
        id: entry.id ?? "",
        time: time && !Number.isNaN(time.getTime()) ? time : undefined,
        actor: entry.actor ?? "",
        procedure: entry.procedure ?? "",
        details: entry.details ?? "",
        outcome: entry.outcome ?? "",
        errorMessage: entry.errorMessage ?? "",
      };
    }),
    nextPageToken: body.nextPageToken ?? "",
  };
}
