// usage.v1.AccountService (Tally's own): account status for the platform, unblocking for operators.
import type { ServiceImpl } from "@connectrpc/connect";
import { centsToCredits } from "../domain/credit-cents.js";
import { AccountService } from "../gen/usage/v1/account_pb.js";
import type { AccountService as Accounts } from "../services/account-service.js";
import { timestamp } from "./convert.js";
import { idempotencyClaimOf } from "./idempotency.js";

export function accountServiceImpl(accounts: Accounts): ServiceImpl<typeof AccountService> {
  return {
    async getAccountStatus(request) {
      const status = await accounts.status(request.attributionId);
      return {
        blocked: status.blocked,
        reason: status.block?.reason ?? "",
        blockedTime: status.block ? timestamp(status.block.blockedAt) : undefined,
        balanceCredits: centsToCredits(status.balanceCents),
        spendingLimit: status.spendingLimitCredits,
        limitReached: status.limitReached,
        almostReached: status.almostReached,
        legacyPrice: status.legacyPrice !== undefined,
        legacySubscriptionId: status.legacyPrice?.subscriptionId ?? "",
        legacyUsagePriceId: status.legacyPrice?.usagePriceId ?? "",
      };
    },

    async unblockAttribution(request, context) {
      const unblocked = await accounts.unblock({ attributionId: request.attributionId, reason: request.reason }, idempotencyClaimOf(context, request));
      return { unblocked: BigInt(unblocked) };
    },
  };
}
