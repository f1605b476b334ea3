// usage.v1.AuditService: reading the audit log (newest first, keyset pages).
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { parseAuditPageQuery } from "../domain/audit-query.js";
import { AuditEntrySchema, AuditService } from "../gen/usage/v1/audit_pb.js";
import { listAuditEntries } from "../store/audit-log.js";
import type { Database } from "../store/database.js";
import { timestamp } from "./convert.js";

export interface AuditServiceDeps {
  readonly db: Database;
}

export function auditServiceImpl(deps: AuditServiceDeps): ServiceImpl<typeof AuditService> {
  return {
    async listAuditEntries(request) {
      const query = parseAuditPageQuery(request);
      const limit = query.pageSize;
      // One extra row tells whether another page follows.
      const rows = await listAuditEntries(deps.db, { attributionId: query.attributionId, beforeId: query.beforeId, limit: limit + 1 });
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
