// The usage.v1 wire contract of SPEC.md Part A, transcribed field by field, checked against the
// descriptors generated from proto/. A rename, renumbering or type change fails here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { file_usage_v1_billing } from "../src/gen/usage/v1/billing_pb.js";
import { file_usage_v1_usage } from "../src/gen/usage/v1/usage_pb.js";

const messages: Record<string, string> = {
  ReconcileUsageRequest: "from=1:Timestamp to=2:Timestamp",
  // Empty in the spec; Tally adds what the run wrote (new fields only: old clients skip them).
  ReconcileUsageResponse: "created=1:int64 updated=2:int64 finalized=3:int64",
  PaginatedRequest: "per_page=1:int64 page=2:int64",
  PaginatedResponse: "per_page=2:int64 total_pages=3:int64 total=4:int64 page=5:int64",
  ListUsageRequest: "attribution_id=1:string from=2:Timestamp to=3:Timestamp order=4:usage.v1.ListUsageRequest.Ordering pagination=5:PaginatedRequest user_id=6:string",
  ListUsageResponse: "usage_entries=1:repeated:Usage pagination=2:PaginatedResponse credits_used=3:double ledger_interval=4:Duration",
  Usage: "id=1:string attribution_id=2:string description=3:string credits=4:double effective_time=5:Timestamp kind=6:usage.v1.Usage.Kind workspace_instance_id=7:string draft=8:bool metadata=9:string",
  SetCostCenterRequest: "cost_center=1:CostCenter",
  SetCostCenterResponse: "cost_center=1:CostCenter",
  GetBalanceRequest: "attribution_id=1:string",
  GetBalanceResponse: "credits=4:double",
  GetCostCenterRequest: "attribution_id=1:string",
  GetCostCenterResponse: "cost_center=1:CostCenter",
  CostCenter: "attribution_id=1:string spending_limit=2:int32 billing_strategy=3:usage.v1.CostCenter.BillingStrategy next_billing_time=4:Timestamp billing_cycle_start=5:Timestamp",
  ResetUsageRequest: "",
  ResetUsageResponse: "",
  AddUsageCreditNoteRequest: "attribution_id=1:string credits=2:int32 description=3:string user_id=4:string",
  AddUsageCreditNoteResponse: "",
  ReconcileInvoicesRequest: "",
  ReconcileInvoicesResponse: "",
  FinalizeInvoiceRequest: "invoice_id=1:string",
  FinalizeInvoiceResponse: "",
  CancelSubscriptionRequest: "subscription_id=1:string",
  CancelSubscriptionResponse: "",
  GetStripeCustomerRequest: "attribution_id=1:string:oneof(identifier) stripe_customer_id=2:string:oneof(identifier)",
  GetStripeCustomerResponse: "customer=1:StripeCustomer attribution_id=2:string",
  StripeCustomer: "id=1:string currency=2:string invalid_billing_address=3:bool",
  CreateStripeCustomerRequest: "attribution_id=1:string name=2:string email=3:string currency=4:string billing_creator_user_id=5:string",
  CreateStripeCustomerResponse: "customer=1:StripeCustomer",
  CreateHoldPaymentIntentRequest: "attribution_id=1:string",
  CreateHoldPaymentIntentResponse: "payment_intent_id=1:string payment_intent_client_secret=2:string",
  CreateStripeSubscriptionRequest: "attribution_id=1:string usage_limit=3:int64 payment_intent_id=4:string",
  CreateStripeSubscriptionResponse: "subscription=1:StripeSubscription",
  StripeSubscription: "id=1:string",
  UpdateCustomerSubscriptionsTaxStateRequest: "customer_id=1:string",
  UpdateCustomerSubscriptionsTaxStateResponse: "",
  GetPriceInformationRequest: "attribution_id=1:string",
  GetPriceInformationResponse: "human_readable_description=2:string",
  OnChargeDisputeRequest: "dispute_id=1:string",
  OnChargeDisputeResponse: "",
};

const enums: Record<string, string> = {
  "ListUsageRequest.Ordering": "ORDERING_DESCENDING=0 ORDERING_ASCENDING=1",
  "Usage.Kind": "KIND_WORKSPACE_INSTANCE=0 KIND_INVOICE=1",
  "CostCenter.BillingStrategy": "BILLING_STRATEGY_STRIPE=0 BILLING_STRATEGY_OTHER=1",
};

const services: Record<string, string> = {
  UsageService: "GetCostCenter SetCostCenter ReconcileUsage ResetUsage ListUsage GetBalance AddUsageCreditNote",
  BillingService:
    "ReconcileInvoices FinalizeInvoice CancelSubscription GetStripeCustomer CreateStripeCustomer CreateHoldPaymentIntent CreateStripeSubscription UpdateCustomerSubscriptionsTaxState GetPriceInformation OnChargeDispute",
};

function describeField(field: DescField): string {
  const type = (() => {
    switch (field.fieldKind) {
      case "scalar":
        return ScalarType[field.scalar].toLowerCase();
      case "enum":
        return field.enum.typeName;
      case "message":
        return field.message.typeName.replace(/^google\.protobuf\.|^usage\.v1\./, "");
      case "list":
        return `repeated:${field.listKind === "message" ? field.message.typeName.replace(/^usage\.v1\./, "") : field.listKind}`;
      default:
        return field.fieldKind;
    }
  })();
  const oneof = field.oneof ? `:oneof(${field.oneof.name})` : "";
  return `${field.name}=${field.number}:${type}${oneof}`;
}

describe("usage.v1 wire contract (SPEC.md Part A)", () => {
  const files = [file_usage_v1_usage, file_usage_v1_billing];
  const allMessages = new Map<string, DescMessage>();
  const collect = (message: DescMessage) => {
    allMessages.set(message.typeName.replace(/^usage\.v1\./, ""), message);
    message.nestedMessages.forEach(collect);
  };
  files.forEach((file) => file.messages.forEach(collect));

  it("declares every message with exactly the specified fields, numbers and types", () => {
    for (const [name, fields] of Object.entries(messages)) {
      const message = allMessages.get(name);
      assert.ok(message, `message usage.v1.${name} is missing`);
      assert.equal(message.fields.map(describeField).join(" "), fields, `usage.v1.${name}`);
    }
  });

  it("keeps field 2 of CreateStripeSubscriptionRequest reserved", () => {
    const message = allMessages.get("CreateStripeSubscriptionRequest")!;
    assert.deepEqual(message.proto.reservedRange.map((r) => [r.start, r.end]), [[2, 3]]);
  });

  it("declares the enums with their values", () => {
    for (const [name, values] of Object.entries(enums)) {
      const enumDesc = files.flatMap((f) => f.messages).flatMap((m) => m.nestedEnums).find((e) => e.typeName === `usage.v1.${name}`);
      assert.ok(enumDesc, `enum ${name} is missing`);
      assert.equal(enumDesc.values.map((v) => `${v.name}=${v.number}`).join(" "), values);
    }
  });

  it("declares the services with their methods, request and response types", () => {
    for (const [name, methods] of Object.entries(services)) {
      const service = files.flatMap((f) => f.services).find((s) => s.typeName === `usage.v1.${name}`);
      assert.ok(service, `service ${name} is missing`);
      assert.equal(service.methods.map((m) => m.name).join(" "), methods);
      for (const method of service.methods) {
        assert.equal(method.methodKind, "unary");
        assert.equal(method.input.typeName, `usage.v1.${method.name}Request`);
        assert.equal(method.output.typeName, `usage.v1.${method.name}Response`);
      }
    }
    assert.equal(file_usage_v1_usage.proto.package, "usage.v1");
    assert.equal(file_usage_v1_billing.proto.package, "usage.v1");
  });
});
