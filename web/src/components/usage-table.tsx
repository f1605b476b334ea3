// Workspace-instance usage entries, paged and filtered (UsageService.ListUsage).
import { useState } from "preact/hooks";
import { usageClient } from "../api.js";
import { formatCredits, formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import type { Usage } from "../../../src/gen/usage/v1/usage_pb.js";
import { ErrorBox } from "./error-box.js";
import { Pager } from "./pager.js";
import { filterRange, type UsageFilter } from "./usage-filters.js";

function metadataOf(entry: Usage): { workspaceClass?: string; userId?: string; userName?: string; workspaceId?: string } {
  try {
    const parsed: unknown = JSON.parse(entry.metadata || "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function UsageTable({ attributionId, filter }: { attributionId: string; filter: UsageFilter }) {
  const [perPage, setPerPage] = useState(20);
  // A new filter or page size starts again at page 1.
  const pagingKey = `${filter.from}|${filter.to}|${filter.userId}|${perPage}`;
  const [paging, setPaging] = useState({ key: pagingKey, page: 1 });
  const page = paging.key === pagingKey ? paging.page : 1;
  const setPage = (next: number) => setPaging({ key: pagingKey, page: next });
  const listing = useRemote(
    (signal) => {
      const range = filterRange(filter);
      return usageClient.listUsage(
        { attributionId, from: range.from, to: range.to, userId: filter.userId, pagination: { perPage: BigInt(perPage), page: BigInt(page) } },
        { signal },
      );
    },
    [attributionId, filter.from, filter.to, filter.userId, page, perPage],
  );
  const data = listing.data;
  const entries = data?.usageEntries ?? [];
  const totalPages = Number(data?.pagination?.totalPages ?? 0n);
  return (
    <section class="card" aria-labelledby="entries-title" aria-busy={listing.loading}>
      <div class="card__header">
        <h2 id="entries-title">Usage entries</h2>
        {data && (
          <p class="card__meta">
            {Number(data.pagination?.total ?? 0n).toLocaleString("en-US")} entries · {formatCredits(data.creditsUsed)} credits
          </p>
        )}
      </div>
      <ErrorBox message={listing.error} />
      {data && entries.length === 0 && <p class="empty">No usage entries match.</p>}
      {entries.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="usage-entries">
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Workspace class</th>
                <th scope="col">User</th>
                <th scope="col">Instance</th>
                <th scope="col" class="num">Credits</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => {
                const metadata = metadataOf(entry);
                return (
                  <tr key={entry.id}>
                    <td class="nowrap">
                      {formatUtc(entry.effectiveTime)}
                      {entry.draft && <span class="badge badge--info" title="Still running: the entry grows until the instance stops">draft</span>}
                    </td>
                    <td>{metadata.workspaceClass ?? ""}</td>
                    <td class="mono" title={metadata.userId}>{metadata.userName ?? shortId(metadata.userId)}</td>
                    <td class="mono" title={entry.workspaceInstanceId}>{shortId(entry.workspaceInstanceId)}</td>
                    <td class="num">{formatCredits(entry.credits)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {data && (
        <Pager label="Usage entry pages" page={page} totalPages={totalPages} perPage={perPage} onPage={setPage} onPerPage={setPerPage} />
      )}
    </section>
  );
}

function shortId(id: string | undefined): string {
  return id ? `${id.slice(0, 8)}…` : "";
}
