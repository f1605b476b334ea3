// Every stored version of the cost center, newest first (ReportService.ListCostCenterVersions).
import { useState } from "preact/hooks";
import { reportClient } from "../api.js";
import { formatCredits, formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import { ErrorBox } from "./error-box.js";
import { strategyName } from "./overview-card.js";
import { Pager } from "./pager.js";

const perPage = 10;

export function CostCenterHistory({ attributionId, version }: { attributionId: string; version: number }) {
  const [page, setPage] = useState(1);
  const history = useRemote(
    (signal) => reportClient.listCostCenterVersions({ attributionId, pagination: { perPage: BigInt(perPage), page: BigInt(page) } }, { signal }),
    [attributionId, page, version],
  );
  const versions = history.data?.versions ?? [];
  return (
    <section class="card" aria-labelledby="history-title" aria-busy={history.loading}>
      <h2 id="history-title">Cost-center history</h2>
      <ErrorBox message={history.error} />
      {history.data && versions.length === 0 && <p class="empty">No cost center stored yet.</p>}
      {versions.length > 0 && (
        <div class="table-wrap">
          <table class="table">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Stored (UTC)</th>
                <th scope="col" class="num">Limit</th>
                <th scope="col">Billing</th>
                <th scope="col">Cycle (UTC)</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <td>{v.version}</td>
                  <td>{formatUtc(v.createdTime)}</td>
                  <td class="num">{formatCredits(v.costCenter?.spendingLimit ?? 0)}</td>
                  <td>{strategyName(v.costCenter?.billingStrategy)}</td>
                  <td class="nowrap">
                    {formatUtc(v.costCenter?.billingCycleStart).slice(0, 10)} → {formatUtc(v.costCenter?.nextBillingTime).slice(0, 10)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {history.data && Number(history.data.pagination?.totalPages ?? 0n) > 1 && (
        <Pager label="Cost-center history pages" page={page} totalPages={Number(history.data.pagination?.totalPages ?? 0n)} perPage={perPage} onPage={setPage} />
      )}
    </section>
  );
}
