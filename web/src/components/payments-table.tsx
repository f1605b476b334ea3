// Credit notes and invoices, newest first (ReportService.ListCreditNotesAndInvoices).
import { useState } from "preact/hooks";
import { reportClient } from "../api.js";
import { formatCents, formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import { LedgerEntry_Kind } from "../../../src/gen/usage/v1/report_pb.js";
import { ErrorBox } from "./error-box.js";
import { Pager } from "./pager.js";

const perPage = 10;

export function PaymentsTable({ attributionId, version }: { attributionId: string; version: number }) {
  const [page, setPage] = useState(1);
  const payments = useRemote(
    (signal) => reportClient.listCreditNotesAndInvoices({ attributionId, pagination: { perPage: BigInt(perPage), page: BigInt(page) } }, { signal }),
    [attributionId, page, version],
  );
  const entries = payments.data?.entries ?? [];
  return (
    <section class="card" aria-labelledby="payments-title" aria-busy={payments.loading}>
      <h2 id="payments-title">Credit notes and invoices</h2>
      <ErrorBox message={payments.error} />
      {payments.data && entries.length === 0 && <p class="empty">None yet.</p>}
      {entries.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="payments">
            <thead>
              <tr>
                <th scope="col">Time (UTC)</th>
                <th scope="col">Kind</th>
                <th scope="col">Reason</th>
                <th scope="col" class="num">Credits</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td class="nowrap">{formatUtc(entry.effectiveTime)}</td>
                  <td>{entry.kind === LedgerEntry_Kind.CREDIT_NOTE ? "Credit note" : "Invoice"}</td>
                  <td class="wrap">{entry.description}</td>
                  <td class="num">{formatCents(entry.creditCents)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {payments.data && Number(payments.data.pagination?.totalPages ?? 0n) > 1 && (
        <Pager label="Credit note pages" page={page} totalPages={Number(payments.data.pagination?.totalPages ?? 0n)} perPage={perPage} onPage={setPage} />
      )}
    </section>
  );
}
