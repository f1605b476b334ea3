// Who changed what about this attribution id, newest first, with "Show older" paging
// (AuditService.ListAuditEntries).
import { useState } from "preact/hooks";
import { auditClient } from "../api.js";
import { formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import type { AuditEntry } from "../../../src/gen/usage/v1/audit_pb.js";
import { ErrorBox } from "./error-box.js";

const pageSize = 10;

export function AuditLog({ attributionId, version }: { attributionId: string; version: number }) {
  // Tokens of the pages shown so far; "" is the newest page.
  const [tokens, setTokens] = useState<string[]>([""]);
  const pages = useRemote(
    async (signal) => Promise.all(tokens.map((pageToken) => auditClient.listAuditEntries({ attributionId, pageSize, pageToken }, { signal }))),
    [attributionId, version, tokens.join(",")],
  );
  const loaded = pages.data;
  const entries = loaded?.flatMap((page) => page.entries) ?? [];
  const next = loaded?.[loaded.length - 1]?.nextPageToken ?? "";
  return (
    <section class="card" aria-labelledby="audit-title" aria-busy={pages.loading}>
      <h2 id="audit-title">Audit log</h2>
      <ErrorBox message={pages.error} />
      {loaded && entries.length === 0 && <p class="empty">No changes recorded.</p>}
      {entries.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="audit-log">
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Actor</th>
                <th scope="col">Call</th>
                <th scope="col">Outcome</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <AuditRow key={String(entry.id)} entry={entry} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {next !== "" && (
        <div class="pager">
          <button type="button" class="button button--quiet" onClick={() => setTokens([...tokens, next])}>
            Show older
          </button>
        </div>
      )}
    </section>
  );
}

function AuditRow({ entry }: { entry: AuditEntry }) {
  const call = entry.procedure.replace(/^.*\//, "");
  return (
    <tr>
      <td class="nowrap">{formatUtc(entry.time)}</td>
      <td>{entry.actor}</td>
      <td title={entry.procedure}>{call}</td>
      <td>
        {entry.outcome === "OK" ? (
          <span class="badge badge--ok">OK</span>
        ) : (
          <span class="badge badge--danger" title={entry.errorMessage}>
            {entry.outcome}
          </span>
        )}
      </td>
      <td class="mono wrap details" title={entry.details}>
        {entry.details}
      </td>
    </tr>
  );
}
