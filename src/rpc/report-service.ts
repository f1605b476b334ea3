// usage.v1.ReportService (Tally's own): thin handlers over the read-only ReportService.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { LedgerEntry as Entry } from "../domain/ledger-entry.js";
import type { Page } from "../domain/report-query.js";
import { totalPages } from "../domain/usage-query.js";
import type { AccountSortField, AccountStatus } from "../domain/report-query.js";
import {
  AccountSortField as WireSortField,
  AccountSummary_Status,
  AccountSummarySchema,
  CostCenterVersionSchema,
  DailyUsageSchema,
  LedgerEntry_Kind,
  LedgerEntrySchema,
  ReportService as ReportServiceDesc,
  type LedgerEntry,
} from "../gen/usage/v1/report_pb.js";
import { CostCenter_BillingStrategy, PaginatedResponseSchema, type PaginatedResponse } from "../gen/usage/v1/usage_pb.js";
import type { ReportService } from "../services/report-service.js";
import { costCenterToWire, dateFromTimestamp, timestamp } from "./convert.js";

export interface ReportServiceHandlerDeps {
  readonly reports: ReportService;
}

export function reportServiceImpl(deps: ReportServiceHandlerDeps): ServiceImpl<typeof ReportServiceDesc> {
  return {
    async listAccounts(request) {
      const { query, page } = await deps.reports.accounts({
        search: request.search,
        sortField: sortFieldOf(request.sortField),
        descending: request.descending,
        perPage: request.pagination?.perPage ?? 0n,
        page: request.pagination?.page ?? 0n,
      });
      return {
        accounts: page.items.map((account) =>
          create(AccountSummarySchema, {
            attributionId: account.attributionId,
            balanceCreditCents: account.balanceCents,
            spendingLimit: account.spendingLimitCredits,
            billingStrategy: account.billingStrategy === "stripe" ? CostCenter_BillingStrategy.STRIPE : CostCenter_BillingStrategy.OTHER,
            hasCostCenter: account.hasCostCenter,
            status: statusToWire[account.status],
            lastActivityTime: timestamp(account.lastActivity),
          }),
        ),
        pagination: paginationToWire(query, page.total),
        limitWarningPercent: deps.reports.limitWarningPercent,
      };
    },

    async listCostCenterVersions(request) {
      const { query, page } = await deps.reports.costCenterVersions({
        attributionId: request.attributionId,
        perPage: request.pagination?.perPage ?? 0n,
        page: request.pagination?.page ?? 0n,
      });
      return {
        versions: page.items.map((costCenter) =>
          create(CostCenterVersionSchema, {
            version: costCenter.version,
            costCenter: costCenterToWire(costCenter),
            createdTime: timestamp(costCenter.createdAt),
          }),
        ),
        pagination: paginationToWire(query, page.total),
      };
    },

    async listCreditNotesAndInvoices(request) {
      const { query, page } = await deps.reports.creditNotesAndInvoices({
        attributionId: request.attributionId,
        perPage: request.pagination?.perPage ?? 0n,
        page: request.pagination?.page ?? 0n,
      });
      return { entries: page.items.map(ledgerEntryToWire), pagination: paginationToWire(query, page.total) };
    },

    async listDailyUsage(request) {
      const { query, rows } = await deps.reports.dailyUsage({
        attributionId: request.attributionId,
        from: dateFromTimestamp(request.from, "from"),
        to: dateFromTimestamp(request.to, "to"),
        userId: request.userId,
      });
      return {
        days: rows.map((row) =>
          create(DailyUsageSchema, {
            day: timestamp(row.day),
            workspaceClass: row.workspaceClass,
            creditCents: row.creditCents,
            entries: BigInt(row.entries),
          }),
        ),
        creditCents: rows.reduce((sum, row) => sum + row.creditCents, 0n),
        from: timestamp(query.from),
        to: timestamp(query.to),
      };
    },
  };
}

function paginationToWire(query: Page, total: number): PaginatedResponse {
  return create(PaginatedResponseSchema, {
    perPage: BigInt(query.perPage),
    page: BigInt(query.page),
    total: BigInt(total),
    totalPages: BigInt(totalPages(total, query.perPage)),
  });
}

const kindToWire: Record<Entry["kind"], LedgerEntry_Kind> = {
  workspaceinstance: LedgerEntry_Kind.WORKSPACE_INSTANCE,
  invoice: LedgerEntry_Kind.INVOICE,
  creditnote: LedgerEntry_Kind.CREDIT_NOTE,
};

function ledgerEntryToWire(entry: Entry): LedgerEntry {
  return create(LedgerEntrySchema, {
    id: entry.id,
    attributionId: entry.attributionId,
    kind: kindToWire[entry.kind],
    description: entry.description,
    creditCents: entry.creditCents,
    effectiveTime: timestamp(entry.effectiveTime),
    draft: entry.draft,
    metadata: JSON.stringify(entry.metadata),
  });
}

const statusToWire: Record<AccountStatus, AccountSummary_Status> = {
  ok: AccountSummary_Status.OK,
  warning: AccountSummary_Status.WARNING,
  reached: AccountSummary_Status.REACHED,
  blocked: AccountSummary_Status.BLOCKED,
};

/** Unknown values (a newer client) sort by attribution id, as UNSPECIFIED does. */
function sortFieldOf(field: WireSortField): AccountSortField {
  switch (field) {
    case WireSortField.BALANCE:
      return "balance";
    case WireSortField.SPENDING_LIMIT:
      return "spendingLimit";
    case WireSortField.STATUS:
      return "status";
    case WireSortField.LAST_ACTIVITY:
      return "lastActivity";
    default:
      return "attributionId";
  }
}
