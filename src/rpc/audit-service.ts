// usage.v1.AuditService: reading the audit log (newest first, keyset pages).
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { parseAttributionId } from "../domain/attribution-id.js";
import { invalidArgument } from "../domain/tally-error.js";
import { AuditEntrySchema, AuditService } from "../gen/usage/v1/audit_pb.js";
import { listAuditEntries } from "../store/audit-log.js";
import type { Database } from "../store/database.js";
import { timestamp } from "./convert.js";

export const auditPageSizeMax = 1000;
export const auditPageSizeDefault = 50;

export interface AuditServiceDeps {
  readonly db: Database;
}

export function auditServiceImpl(deps: AuditServiceDeps): ServiceImpl<typeof AuditService> {
  return {
    async listAuditEntries(request) {
      const attributionId = request.attributionId === "" ? undefined : parseAttributionId(request.attributionId).text;
      if (request.pageSize < 0 || request.pageSize > auditPageSizeMax) {
        throw invalidArgument(`page_size ${request.pageSize} must be between 0 and ${auditPageSizeMax}`);
      }
      const limit = request.pageSize === 0 ? auditPageSizeDefault : request.pageSize;
      let beforeId: bigint | undefined;
      if (request.pageToken !== "") {
        if (!/^[1-9][0-9]{0,18}$/.test(request.pageToken)) {
          throw invalidArgument(`page_token ${JSON.stringify(request.pageToken)} is not a token this server returned`);
        }
        beforeId = BigInt(request.pageToken);
      }
      // One extra row tells whether another page follows.
      const rows = await listAuditEntries(deps.db, { attributionId, beforeId, limit: limit + 1 });
      const page = rows.slice(0, limit);
      return {
        entries: page.map((row) =>
          create(AuditEntrySchema, {
            id: row.id,
            time: timestamp(row.time),
            actor: row.actor,
            procedure: row.procedure,
            attributionId: row.attributionId ?? "",
            details: JSON.stringify(row.details),
            outcome: row.outcome,
            errorMessage: row.errorMessage ?? "",
            requestId: row.requestId ?? "",
          }),
        ),
        nextPageToken: rows.length > limit ? String(page[page.length - 1]!.id) : "",
      };
    },
  };
}
