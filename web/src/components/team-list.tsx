// The team list (ReportService.ListAccounts): every attribution id Tally knows with its balance,
// limit, status and last activity; searched, sorted and paged by the server.
import { useEffect, useState } from "preact/hooks";
import { reportClient } from "../api.js";
import { formatCents, formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import { AccountSortField, AccountSummary_Status, type AccountSummary } from "../../../src/gen/usage/v1/report_pb.js";
import { ErrorBox } from "./error-box.js";
import { Loading } from "./loading.js";
import { Pager } from "./pager.js";
import { strategyName } from "./overview-card.js";

const columns: { field: AccountSortField; title: string; numeric?: boolean }[] = [
  { field: AccountSortField.ATTRIBUTION_ID, title: "Attribution id" },
  { field: AccountSortField.BALANCE, title: "Balance", numeric: true },
  { field: AccountSortField.SPENDING_LIMIT, title: "Limit", numeric: true },
  { field: AccountSortField.STATUS, title: "Status" },
  { field: AccountSortField.LAST_ACTIVITY, title: "Last activity (UTC)" },
];

const statusBadge: Record<AccountSummary_Status, { text: string; class: string }> = {
  [AccountSummary_Status.UNSPECIFIED]: { text: "Unknown", class: "badge--info" },
  [AccountSummary_Status.OK]: { text: "OK", class: "badge--ok" },
  [AccountSummary_Status.WARNING]: { text: "Warning", class: "badge--warn" },
  [AccountSummary_Status.REACHED]: { text: "Limit reached", class: "badge--danger" },
  [AccountSummary_Status.BLOCKED]: { text: "Blocked", class: "badge--danger" },
};

export function StatusBadge({ status }: { status: AccountSummary_Status }) {
  const badge = statusBadge[status];
  return <span class={`badge ${badge.class}`}>{badge.text}</span>;
}

export function TeamList({ onOpen }: { onOpen: (attributionId: string) => void }) {
  const [draft, setDraft] = useState("");
  const [search, setSearch] = useState("");
  const [sort, setSort] = useState({ field: AccountSortField.ATTRIBUTION_ID, descending: false });
  const [page, setPage] = useState(1);
  const [perPage, setPerPage] = useState(20);
  // Searching as one types, a moment after the last key.
  useEffect(() => {
    const timer = setTimeout(() => {
      setSearch(draft.trim());
      setPage(1);
    }, 250);
    return () => clearTimeout(timer);
  }, [draft]);
  const accounts = useRemote(
    (signal) =>
      reportClient.listAccounts(
        { search, sortField: sort.field, descending: sort.descending, pagination: { perPage: BigInt(perPage), page: BigInt(page) } },
        { signal },
      ),
    [search, sort.field, sort.descending, page, perPage],
  );
  const data = accounts.data;
  const totalPages = Number(data?.pagination?.totalPages ?? 0n);
  const total = Number(data?.pagination?.total ?? 0n);
  const sortBy = (field: AccountSortField) => {
    setSort((current) => ({ field, descending: current.field === field ? !current.descending : field !== AccountSortField.ATTRIBUTION_ID }));
    setPage(1);
  };
  return (
    <section class="card" aria-labelledby="teams-title" aria-busy={accounts.loading}>
      <div class="card__header">
        <h2 id="teams-title">Teams and users</h2>
        {data && (
          <p class="card__meta" data-testid="teams-total">
            {total.toLocaleString("en-US")} {total === 1 ? "attribution id" : "attribution ids"} · warning above {data.limitWarningPercent} %
          </p>
        )}
      </div>
      <div class="field teams__search">
        <label for="teams-search">Search</label>
        <input
          id="teams-search"
          class="input search__input"
          type="search"
          autocomplete="off"
          spellcheck={false}
          placeholder="part of an attribution id"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
      </div>
      <ErrorBox message={accounts.error} />
      {!data && accounts.loading && <Loading lines={5} label="Loading the team list…" />}
      {data && data.accounts.length === 0 && <p class="empty">{search ? `No attribution id contains “${search}”.` : "No attribution id has been seen yet."}</p>}
      {data && data.accounts.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="teams">
            <thead>
              <tr>
                {columns.map((column) => {
                  const active = sort.field === column.field;
                  return (
                    <th
                      key={column.field}
                      scope="col"
                      class={column.numeric ? "num" : "nowrap"}
                      aria-sort={active ? (sort.descending ? "descending" : "ascending") : "none"}
                    >
                      <button type="button" class="sort-button" onClick={() => sortBy(column.field)}>
                        {column.title}
                        <span class="sort-button__mark" aria-hidden="true">
                          {active ? (sort.descending ? "▼" : "▲") : "↕"}
                        </span>
                      </button>
                    </th>
                  );
                })}
              </tr>
            </thead>
            <tbody>
              {data.accounts.map((account) => (
                <TeamRow key={account.attributionId} account={account} onOpen={onOpen} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && total > 0 && (
        <Pager
          label="Team list pages"
          page={page}
          totalPages={Math.max(totalPages, 1)}
          perPage={perPage}
          onPage={setPage}
          onPerPage={(size) => {
            setPerPage(size);
            setPage(1);
          }}
        />
      )}
    </section>
  );
}

function TeamRow({ account, onOpen }: { account: AccountSummary; onOpen: (attributionId: string) => void }) {
  const href = `/attributions/${encodeURIComponent(account.attributionId)}`;
  return (
    <tr>
      <th scope="row" class="nowrap">
        <a
          class="mono"
          href={href}
          onClick={(event) => {
            if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
            event.preventDefault();
            onOpen(account.attributionId);
          }}
        >
          {account.attributionId}
        </a>
      </th>
      <td class="num">{formatCents(account.balanceCreditCents)}</td>
      <td class="num">
        {account.spendingLimit.toLocaleString("en-US")}
        {!account.hasCostCenter && (
          <span class="muted" title="No cost center stored yet: the default for its kind">
            {" "}
            (default)
          </span>
        )}
        <span class="muted"> · {strategyName(account.billingStrategy)}</span>
      </td>
      <td class="nowrap">
        <StatusBadge status={account.status} />
      </td>
      <td class="nowrap">{formatUtc(account.lastActivityTime)}</td>
    </tr>
  );
}
