// `tally audit ls`: the listing (the command's definition: audit.ts).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuditService, type AuditEntry } from "../gen/usage/v1/audit_pb.js";
import type { AuditLsOptions } from "./audit.js";
import { parseWholeNumber } from "./arguments.js";
import { clientFor } from "./client.js";
import { truncate } from "./output.js";
import { printPagedListing } from "./paged-listing.js";

export async function listAudit(attributionId: string | undefined, options: AuditLsOptions): Promise<void> {
  const limit = parseWholeNumber(options.limit, "--limit", { min: 0, max: Number.MAX_SAFE_INTEGER });
  const client = clientFor(AuditService, options);
  await printPagedListing({
    fetchPage: async (pageSize, pageToken) => {
      const page = await client.listAuditEntries({ attributionId: attributionId ?? "", pageSize, pageToken });
      return { items: page.entries, nextPageToken: page.nextPageToken };
    },
    limit,
    json: options.json,
    jsonView,
    header: ["TIME", "ACTOR", "CALL", "ATTRIBUTION", "OUTCOME", "DETAILS"],
    tableRow,
    emptyText: "no audit entries",
  });
}

function iso(entry: AuditEntry): string {
  return entry.time ? timestampDate(entry.time).toISOString() : "";
}

function tableRow(entry: AuditEntry): string[] {
  const call = entry.procedure.replace(/^[a-z0-9.]+\./, "");
  const outcome = entry.outcome === "OK" ? "OK" : `${entry.outcome}: ${truncate(entry.errorMessage, 60)}`;
  return [iso(entry), entry.actor, call, entry.attributionId || "-", outcome, truncate(entry.details, 80)];
}

function jsonView(entry: AuditEntry) {
  let details: unknown = entry.details;
  try {
    details = JSON.parse(entry.details);
  } catch {
    // kept as text
  }
  return {
    id: String(entry.id),
    time: iso(entry),
    actor: entry.actor,
    procedure: entry.procedure,
    attributionId: entry.attributionId,
    details,
    outcome: entry.outcome,
    errorMessage: entry.errorMessage,
    requestId: entry.requestId,
  };
}
