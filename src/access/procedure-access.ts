// Which role each RPC needs: the one table of access rules. "open" needs no token (health checks
// and reflection, which carry no data), "read" needs a reader or admin token, "mutate" an admin
// token. Mutations are also the RPCs that write audit rows. A procedure missing here needs admin.
import type { Identity, Role } from "./api-tokens.js";

export type Access = "open" | "read" | "mutate";

/** Services whose every method is open. */
const openServices = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** Keyed "package.Service/Method". */
export const procedureAccess: Readonly<Record<string, Exclude<Access, "open">>> = {
  "usage.v1.UsageService/GetCostCenter": "read",
  "usage.v1.UsageService/SetCostCenter": "mutate",
  "usage.v1.UsageService/ReconcileUsage": "mutate",
  "usage.v1.UsageService/ResetUsage": "mutate",
  "usage.v1.UsageService/ListUsage": "read",
  "usage.v1.UsageService/GetBalance": "read",
  "usage.v1.UsageService/AddUsageCreditNote": "mutate",

  "usage.v1.BillingService/ReconcileInvoices": "mutate",
  "usage.v1.BillingService/FinalizeInvoice": "mutate",
  "usage.v1.BillingService/CancelSubscription": "mutate",
  // Looks the customer up in Stripe and caches what it finds: a read for the caller.
  "usage.v1.BillingService/GetStripeCustomer": "read",
  "usage.v1.BillingService/CreateStripeCustomer": "mutate",
  "usage.v1.BillingService/CreateHoldPaymentIntent": "mutate",
  "usage.v1.BillingService/CreateStripeSubscription": "mutate",
  "usage.v1.BillingService/UpdateCustomerSubscriptionsTaxState": "mutate",
  "usage.v1.BillingService/GetPriceInformation": "read",
  "usage.v1.BillingService/OnChargeDispute": "mutate",

  "usage.v1.WorkspaceInstanceService/UpsertWorkspaceInstances": "mutate",
  "usage.v1.WorkspaceInstanceService/GetWorkspaceInstance": "read",

  "usage.v1.AccountService/GetAccountStatus": "read",
  "usage.v1.AccountService/UnblockAttribution": "mutate",

  "usage.v1.ReportService/ListCostCenterVersions": "read",
  "usage.v1.ReportService/ListCreditNotesAndInvoices": "read",
  "usage.v1.ReportService/ListDailyUsage": "read",
  "usage.v1.ReportService/ListAccounts": "read",

  "usage.v1.AuditService/ListAuditEntries": "read",

  "usage.v1.EventService/AddEndpoint": "mutate",
  "usage.v1.EventService/ListEndpoints": "read",
  "usage.v1.EventService/RemoveEndpoint": "mutate",
  "usage.v1.EventService/RotateEndpointSecret": "mutate",
  "usage.v1.EventService/ListEvents": "read",
  "usage.v1.EventService/RedeliverEvent": "mutate",
};

export function accessOf(service: string, method: string): Access {
  if (openServices.has(service)) return "open";
  // Unknown procedures are treated as mutations: admin only, and audited.
  return procedureAccess[`${service}/${method}`] ?? "mutate";
}

export function isClassified(service: string, method: string): boolean {
  return openServices.has(service) || `${service}/${method}` in procedureAccess;
}

const rolesAllowed: Record<Exclude<Access, "open">, readonly Role[]> = {
  read: ["reader", "admin"],
  mutate: ["admin"],
};

export function mayCall(identity: Identity, access: Access): boolean {
  return access === "open" || rolesAllowed[access].includes(identity.role);
}
