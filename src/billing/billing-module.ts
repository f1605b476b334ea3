// Builds billing and accounts for the server: the services, their RPC handlers, the Stripe webhook
// route and the inbox worker. Without Stripe, BillingService is still hosted and refuses every call.
import type { TallyConfig } from "../config.js";
import type { Clock } from "../domain/clock.js";
import { AccountService as AccountServiceDesc, file_usage_v1_account } from "../gen/usage/v1/account_pb.js";
import { BillingService as BillingServiceDesc, file_usage_v1_billing } from "../gen/usage/v1/billing_pb.js";
import type { Logger } from "../logger.js";
import { accountServiceImpl } from "../rpc/account-service.js";
import { billingServiceImpl, unconfiguredBillingServiceImpl } from "../rpc/billing-service.js";
import { idempotentMutations } from "../rpc/idempotency.js";
import { hostedService, type HostedService, type HttpRoute } from "../server.js";
import { AccountService } from "../services/account-service.js";
import { BillingService } from "../services/billing-service.js";
import type { CostCenterService } from "../services/cost-center-service.js";
import type { Database } from "../store/database.js";
import { inboxBacklog, type InboxBacklog } from "../store/webhook-inbox.js";
import type { BalanceReader } from "../store/balance-reader.js";
import type { EventRecorder } from "../events/event-recorder.js";
import { withClientIdempotencyKeys } from "./client-keyed-provider.js";
import type { PaymentProvider } from "./payment-provider.js";
import { createStripeClient, StripePaymentProvider, type StripeErrorKind } from "./stripe-payment-provider.js";
import { stripeWebhookRoute } from "./stripe-webhook.js";
import { billingWebhookHandler, InboxWorker } from "./webhook-inbox-worker.js";

export interface BillingModule {
  readonly accounts: AccountService;
  /** undefined when Stripe is not configured. */
  readonly billing: BillingService | undefined;
  readonly inbox: InboxWorker | undefined;
  readonly db: Database;
  readonly services: HostedService[];
  readonly httpRoutes: HttpRoute[];
  /** Webhook events not yet processed, and given up on: for metrics. */
  inboxBacklog(): Promise<InboxBacklog>;
  /** Starts the inbox worker (when billing is on). */
  start(): void;
  close(): Promise<void>;
}

export interface BillingModuleDeps {
  readonly config: Pick<TallyConfig, "stripe" | "limitWarningPercent">;
  readonly db: Database;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly costCenters: CostCenterService;
  readonly balances: BalanceReader;
  /** Replaces the Stripe adapter (tests). */
  readonly provider?: PaymentProvider;
  /** The outbox of account events (blocks, invoices). */
  readonly events?: EventRecorder;
  /** Counts failed Stripe calls (tally_stripe_errors_total). */
  readonly metrics?: { recordStripeError(kind: StripeErrorKind): void };
  /** After a dispute blocked an attribution id (Gitpod mode: block its owners in Gitpod too). */
  readonly onDisputed?: (disputeId: string, attributionId: string) => Promise<unknown>;
}

/** Kinds that mean Tally's configuration is wrong, not that Stripe had a bad moment. */
const configurationErrorKinds = new Set<StripeErrorKind>(["unrecognized_url", "authentication"]);

export function buildBilling(deps: BillingModuleDeps): BillingModule {
  const { db, clock, logger, costCenters } = deps;
  const stripe = deps.config.stripe;
  const events = deps.events;
  const accounts = new AccountService({
    db,
    clock,
    costCenters,
    balances: deps.balances,
    limitWarningPercent: deps.config.limitWarningPercent,
    stripeBilling: stripe !== undefined,
    ...(events ? { events } : {}),
  });
  const accountsHosted = hostedService(AccountServiceDesc, accountServiceImpl(accounts), file_usage_v1_account);
  if (!stripe) {
    return {
      accounts,
      billing: undefined,
      inbox: undefined,
      db,
      services: [hostedService(BillingServiceDesc, unconfiguredBillingServiceImpl(), file_usage_v1_billing), accountsHosted],
      httpRoutes: [stripeWebhookRoute({ db, clock, logger, webhookSecret: undefined, onStored: () => {} })],
      inboxBacklog: () => inboxBacklog(db),
      start() {},
      async close() {},
    };
  }
  // Idempotency keys: Stripe keys carry the client's key, and each mutation's response is kept for its retries.
  // Every failed Stripe call is counted and logged; a wrong URL or key is an error for an operator.
  const onError = (kind: StripeErrorKind, error: unknown) => {
    deps.metrics?.recordStripeError(kind);
    const log = { err: error, kind, apiBase: stripe.apiBase ?? "https://api.stripe.com" };
    if (configurationErrorKinds.has(kind)) logger.error(log, "a Stripe call failed: check STRIPE_API_BASE and STRIPE_SECRET_KEY");
    else logger.warn(log, "a Stripe call failed");
  };
  const provider = withClientIdempotencyKeys(
    deps.provider ??
      new StripePaymentProvider(createStripeClient({ secretKey: stripe.secretKey, apiBase: stripe.apiBase }), { onError }),
  );
  const billing = new BillingService({
    db,
    clock,
    logger,
    provider,
    costCenters,
    accounts,
    usagePriceIds: stripe.usagePriceIds,
    ...(events ? { events } : {}),
    ...(deps.onDisputed ? { onDisputed: deps.onDisputed } : {}),
  });
  const inbox = new InboxWorker({ db, clock, logger, handle: billingWebhookHandler(billing) });
  if (!stripe.webhookSecret) logger.warn("STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks will be refused (503) until it is");
  const webhook = stripeWebhookRoute({ db, clock, logger, webhookSecret: stripe.webhookSecret, onStored: () => inbox.wake() });
  return {
    accounts,
    billing,
    inbox,
    db,
    services: [
      hostedService(BillingServiceDesc, idempotentMutations(BillingServiceDesc, billingServiceImpl(billing, logger), { db, clock }), file_usage_v1_billing),
      accountsHosted,
    ],
    httpRoutes: [webhook],
    inboxBacklog: () => inboxBacklog(db),
    start: () => inbox.start(),
    close: () => inbox.stop(),
  };
}
