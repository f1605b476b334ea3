// Read-only reports for operators (dashboard, CLI): cost-center history, credit notes and
// invoices, usage per day and workspace class, the team list. Nothing here writes, so nothing is created on lookup.
import type { Clock } from "../domain/clock.js";
import type { StoredCostCenter } from "../domain/cost-center.js";
import type { LedgerEntry } from "../domain/ledger-entry.js";
import type { DefaultSpendingLimits } from "../domain/cost-center.js";
import { limitLevel, limitWarningPercentDefault } from "../domain/limit-threshold.js";
import {
  accountStatus,
  parseAccountListQuery,
  parsePagedQuery,
  parseDailyUsageQuery,
  dailyUsageRowsMax,
  type AccountListQuery,
  type AccountSortField,
  type AccountStatus,
  type PagedQuery,
  type DailyUsageQuery,
} from "../domain/report-query.js";
import { TallyError } from "../domain/tally-error.js";
import type { Database } from "../store/database.js";
import {
  listCostCenterVersions,
  listAccounts,
  listCreditNotesAndInvoices,
  sumDailyUsage,
  type AccountRow,
  type DailyUsageRow,
  type Paged,
} from "../store/reports.js";

export interface ReportServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
  /** Default dailyUsageRowsMax; tests lower it. */
  readonly dailyUsageRowsMax?: number;
  /** The team list shows these limits for attribution ids without a cost center. */
  readonly defaultSpendingLimit: DefaultSpendingLimits;
  /** limitWarningPercent: the team list's "warning" status. */
  readonly limitWarningPercent?: number;
}

export interface AccountSummary extends AccountRow {
  readonly status: AccountStatus;
}

export interface PageInput {
  readonly attributionId: string;
  readonly perPage: bigint;
  readonly page: bigint;
}

export class ReportService {
  constructor(private readonly deps: ReportServiceDeps) {}

  async costCenterVersions(input: PageInput): Promise<{ query: PagedQuery; page: Paged<StoredCostCenter> }> {
    const query = parsePagedQuery(input);
    return { query, page: await listCostCenterVersions(this.deps.db, query) };
  }

  async creditNotesAndInvoices(input: PageInput): Promise<{ query: PagedQuery; page: Paged<LedgerEntry> }> {
    const query = parsePagedQuery(input);
    return { query, page: await listCreditNotesAndInvoices(this.deps.db, query) };
  }

  async dailyUsage(input: {
    attributionId: string;
    from: Date | undefined;
    to: Date | undefined;
    userId: string;
  }): Promise<{ query: DailyUsageQuery; rows: DailyUsageRow[] }> {
    const query = parseDailyUsageQuery(input, this.deps.clock.now());
    const rowsMax = this.deps.dailyUsageRowsMax ?? dailyUsageRowsMax;
    const rows = await sumDailyUsage(this.deps.db, query, rowsMax + 1);
    if (rows.length > rowsMax) {
      throw new TallyError("ResourceExhausted", `the daily usage has more than ${rowsMax} rows (day x workspace class); narrow the time range`);
    }
    return { query, rows };
  }

  get limitWarningPercent(): number {
    return this.deps.limitWarningPercent ?? limitWarningPercentDefault;
  }

  /** The team list: searched, sorted and paged in the database. */
  async accounts(input: {
    search: string;
    sortField: AccountSortField;
    descending: boolean;
    perPage: bigint;
    page: bigint;
  }): Promise<{ query: AccountListQuery; page: Paged<AccountSummary> }> {
    const query = parseAccountListQuery(input);
    const warningPercent = this.limitWarningPercent;
    const page = await listAccounts(this.deps.db, query, { defaults: this.deps.defaultSpendingLimit, warningPercent });
    return {
      query,
      page: {
        total: page.total,
        items: page.items.map((row) => ({
          ...row,
          status: accountStatus(row.blocked, limitLevel(row.balanceCents, row.spendingLimitCredits, warningPercent)),
        })),
      },
    };
  }
}
