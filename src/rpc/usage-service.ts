// usage.v1.UsageService: thin handlers over the cost-center and ledger services.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { centsToCredits } from "../domain/credit-cents.js";
import { invalidArgument } from "../domain/tally-error.js";
import { totalPages } from "../domain/usage-query.js";
import {
  ListUsageRequest_Ordering,
  UsageService,
  ListUsageResponseSchema,
  PaginatedResponseSchema,
} from "../gen/usage/v1/usage_pb.js";
import type { CostCenterService } from "../services/cost-center-service.js";
import type { LedgerService } from "../services/ledger-service.js";
import { auditCreatedByRead } from "./audit-interceptor.js";
import { idempotencyClaimOf } from "./idempotency.js";
import { billingStrategyFromWire, costCenterToWire, dateFromTimestamp, durationFromMs, usageToWire } from "./convert.js";

export interface UsageServiceDeps {
  readonly costCenters: CostCenterService;
  readonly ledger: LedgerService;
  readonly ledgerIntervalMs: number;
  /** Books workspace-instance usage in [from, to). */
  readonly reconcileUsage: (from: Date, to: Date) => Promise<{ inserted: number; updated: number; finalized: number }>;
}

export function usageServiceImpl(deps: UsageServiceDeps): ServiceImpl<typeof UsageService> {
  return {
    async getCostCenter(request, context) {
      const onCreated = auditCreatedByRead(`${UsageService.typeName}/${UsageService.method.getCostCenter.name}`, context.values);
      return { costCenter: costCenterToWire(await deps.costCenters.get(request.attributionId, onCreated)) };
    },

    async setCostCenter(request, context) {
      const costCenter = request.costCenter;
      if (!costCenter) throw invalidArgument("cost_center is required");
      const stored = await deps.costCenters.set(
        {
          attributionId: costCenter.attributionId,
          spendingLimitCredits: costCenter.spendingLimit,
          billingStrategy: billingStrategyFromWire(costCenter.billingStrategy, "cost_center.billing_strategy"),
        },
        idempotencyClaimOf(context, request),
      );
      return { costCenter: costCenterToWire(stored) };
    },

    async reconcileUsage(request) {
      const from = dateFromTimestamp(request.from, "from");
      const to = dateFromTimestamp(request.to, "to");
      if (!from) throw invalidArgument("from is required");
      if (!to) throw invalidArgument("to is required");
      const summary = await deps.reconcileUsage(from, to);
      return { created: BigInt(summary.inserted), updated: BigInt(summary.updated), finalized: BigInt(summary.finalized) };
    },

    async resetUsage() {
      await deps.costCenters.resetAllDue();
      return {};
    },

    async listUsage(request) {
      const order = request.order;
      if (order !== ListUsageRequest_Ordering.DESCENDING && order !== ListUsageRequest_Ordering.ASCENDING) {
        throw invalidArgument(`order ${order} is not a known ordering (0 = DESCENDING, 1 = ASCENDING)`);
      }
      const { query, page } = await deps.ledger.listUsage({
        attributionId: request.attributionId,
        from: dateFromTimestamp(request.from, "from"),
        to: dateFromTimestamp(request.to, "to"),
        order: order === ListUsageRequest_Ordering.ASCENDING ? "ascending" : "descending",
        userId: request.userId,
        perPage: request.pagination?.perPage ?? 0n,
        page: request.pagination?.page ?? 0n,
      });
      return create(ListUsageResponseSchema, {
        usageEntries: page.entries.map(usageToWire),
        pagination: create(PaginatedResponseSchema, {
          perPage: BigInt(query.perPage),
          page: BigInt(query.page),
          total: BigInt(page.total),
          totalPages: BigInt(totalPages(page.total, query.perPage)),
        }),
        creditsUsed: centsToCredits(page.creditCentsSum),
        ledgerInterval: durationFromMs(deps.ledgerIntervalMs),
      });
    },

    async getBalance(request) {
      return { credits: centsToCredits(await deps.ledger.balanceCents(request.attributionId)) };
    },

    async addUsageCreditNote(request, context) {
      await deps.ledger.addCreditNote(
        {
          attributionId: request.attributionId,
          credits: request.credits,
          description: request.description,
          userId: request.userId,
        },
        idempotencyClaimOf(context, request),
      );
      return {};
    },
  };
}
