// usage.v1.BillingService: thin handlers over the billing service. Without Stripe configured, every
// RPC answers FAILED_PRECONDITION "billing is not configured" (the service is still listed).
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { failedPrecondition, invalidArgument, TallyError } from "../domain/tally-error.js";
import { BillingService, StripeCustomerSchema, type StripeCustomer } from "../gen/usage/v1/billing_pb.js";
import type { Logger } from "../logger.js";
import type { BillingService as Billing } from "../services/billing-service.js";
import type { StoredStripeCustomer } from "../store/stripe-customers.js";

export function billingServiceImpl(billing: Billing, logger: Logger): ServiceImpl<typeof BillingService> {
  return {
    async reconcileInvoices() {
      const outcome = await billing.reconcileInvoices();
      const log = { reported: outcome.reported, invoicesBooked: outcome.invoicesBooked, cyclesAdvanced: outcome.cyclesAdvanced };
      if (outcome.failed.length === 0) {
        logger.info(log, "invoices reconciled");
        return {};
      }
      for (const { attributionId, error } of outcome.failed) {
        logger.warn({ attributionId, err: error }, "reconciling invoices failed for one cost center");
      }
      const first = outcome.failed[0]!;
      throw new TallyError(
        "Unavailable",
        `reconciling invoices failed for ${outcome.failed.length} of ${outcome.failed.length + outcome.reported} Stripe cost centers (the others were done); first: ${first.attributionId}: ${first.error instanceof Error ? first.error.message : String(first.error)}`,
      );
    },

    async finalizeInvoice(request) {
      await billing.finalizeInvoice(request.invoiceId);
      return {};
    },

    async cancelSubscription(request) {
      await billing.cancelSubscription(request.subscriptionId);
      return {};
    },

    async getStripeCustomer(request) {
      const identifier = request.identifier;
      if (identifier.case === undefined) throw invalidArgument("attribution_id or stripe_customer_id is required");
      const customer = await billing.getStripeCustomer(
        identifier.case === "attributionId" ? { attributionId: identifier.value } : { stripeCustomerId: identifier.value },
      );
      return { customer: customerToWire(customer), attributionId: customer.attributionId };
    },

    async createStripeCustomer(request) {
      const customer = await billing.createStripeCustomer({
        attributionId: request.attributionId,
        name: request.name,
        email: request.email,
        currency: request.currency,
        billingCreatorUserId: request.billingCreatorUserId,
      });
      return { customer: customerToWire(customer) };
    },

    async createHoldPaymentIntent(request) {
      const intent = await billing.createHoldPaymentIntent(request.attributionId);
      return { paymentIntentId: intent.id, paymentIntentClientSecret: intent.clientSecret };
    },

    async createStripeSubscription(request) {
      const { subscriptionId } = await billing.createStripeSubscription({
        attributionId: request.attributionId,
        usageLimit: request.usageLimit,
        paymentIntentId: request.paymentIntentId,
      });
      return { subscription: { id: subscriptionId } };
    },

    async updateCustomerSubscriptionsTaxState(request) {
      await billing.updateCustomerSubscriptionsTaxState(request.customerId);
      return {};
    },

    async getPriceInformation(request) {
      return { humanReadableDescription: await billing.getPriceInformation(request.attributionId) };
    },

    async onChargeDispute(request) {
      await billing.onChargeDispute(request.disputeId);
      return {};
    },
  };
}

/** Every RPC refuses: nothing could call Stripe. */
export function unconfiguredBillingServiceImpl(): ServiceImpl<typeof BillingService> {
  const refuse = async (): Promise<never> => {
    throw failedPrecondition("billing is not configured: set STRIPE_SECRET_KEY (stripe.secretKey) to enable it");
  };
  return Object.fromEntries(BillingService.methods.map((method) => [method.localName, refuse])) as unknown as ServiceImpl<
    typeof BillingService
  >;
}

function customerToWire(customer: StoredStripeCustomer): StripeCustomer {
  return create(StripeCustomerSchema, {
    id: customer.stripeCustomerId,
    currency: customer.currency,
    invalidBillingAddress: customer.invalidBillingAddress,
  });
}
