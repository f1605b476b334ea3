// The payment provider as billing RPCs use it: Stripe idempotency keys carry the client's
// idempotency key (services/idempotency.ts), so a client's retry replays at Stripe too.
import { stripeIdempotencyKey } from "../services/idempotency.js";
import type { PaymentProvider } from "./payment-provider.js";

/** The provider's mutating calls, and the position of their idempotency-key argument. */
const keyArgumentOf: Partial<Record<keyof PaymentProvider, number>> = {
  createCustomer: 1,
  setDefaultPaymentMethod: 2,
  copyBillingAddress: 2,
  createHoldPaymentIntent: 1,
  cancelPaymentIntent: 1,
  createSubscription: 1,
  setSubscriptionAutomaticTax: 2,
};

export function withClientIdempotencyKeys(provider: PaymentProvider): PaymentProvider {
  return new Proxy(provider, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== "function") return value;
      const keyArgument = keyArgumentOf[property as keyof PaymentProvider];
      if (keyArgument === undefined) return value.bind(target);
      return (...args: unknown[]) => {
        const key = args[keyArgument];
        if (typeof key === "string") args[keyArgument] = stripeIdempotencyKey(key);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
