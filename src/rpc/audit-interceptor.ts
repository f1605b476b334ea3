// Writes an audit row for every mutating RPC (access/procedure-access.ts says which), whatever its
// outcome. Calls refused for a missing or unknown token are not recorded (anonymous noise that
// could flood the table); they are logged and counted in the RPC metrics instead.
import { toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { accessOf } from "../access/procedure-access.js";
import { attributionIdOf, boundDetails, redactSecrets, storableJson, storableText, type Json } from "../domain/audit-details.js";
import type { Clock } from "../domain/clock.js";
import type { Logger } from "../logger.js";
import type { TallyMetrics } from "../observability/metrics.js";
import { insertAuditEntry } from "../store/audit-log.js";
import type { Database } from "../store/database.js";
import type { OnCostCenterCreated } from "../services/cost-center-service.js";
import { grpcCodeName, identityKey, requestIdKey } from "./request-context.js";

export interface AuditDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: TallyMetrics;
}

export const anonymousActor = "anonymous";
/** The actor of rows for what Tally did by itself, e.g. create a cost center a read asked for. */
export const systemActor = "system";

/**
 * A read that creates something (GetCostCenter creates a cost center with the defaults on first
 * use) leaves a row in the same transaction: actor "system", on behalf of the caller.
 */
export function auditCreatedByRead(procedure: string, values: ContextValues): OnCostCenterCreated {
  return async (tx, created, now) => {
    const onBehalfOf = values.get(identityKey)?.name ?? anonymousActor;
    await insertAuditEntry(tx, {
      time: now,
      actor: systemActor,
      procedure,
      attributionId: created.attributionId,
      details: {
        attributionId: created.attributionId,
        onBehalfOf,
        created: "cost center with the defaults, on first read",
        costCenter: { spendingLimit: created.spendingLimitCredits, billingStrategy: created.billingStrategy.toUpperCase() },
      },
      outcome: "OK",
      errorMessage: undefined,
      requestId: values.get(requestIdKey),
    });
  };
}

export function auditInterceptor(deps: AuditDeps): Interceptor {
  return (next) => async (request) => {
    if (accessOf(request.service.typeName, request.method.name) !== "mutate") return next(request);
    const procedure = `${request.service.typeName}/${request.method.name}`;
    const details = request.stream ? { streaming: true } : requestDetails(request.method.input, request.message);
    let failure: unknown;
    try {
      return await next(request);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      if (!(failure instanceof ConnectError && failure.code === Code.Unauthenticated)) {
        await record(deps, {
          time: deps.clock.now(),
          actor: request.contextValues.get(identityKey)?.name ?? anonymousActor,
          procedure,
          attributionId: attributionIdOf(details),
          details,
          outcome: grpcCodeName(failure),
          errorMessage: failure === undefined ? undefined : failure instanceof ConnectError ? storableText(failure.rawMessage) : "internal error",
          requestId: request.contextValues.get(requestIdKey),
        });
      }
    }
  };
}

/**
 * Top-level lists longer than this are summarised as `{count, omitted}` before the request is
 * converted: copying a batch of 1000 instances into JSON and walking it, only for boundDetails to
 * drop it for its size, was about a tenth of ingestion's CPU.
 */
export const auditListItemsMax = 100;

function requestDetails(schema: DescMessage, message: Message): Record<string, Json> {
  try {
    const fields = message as unknown as Record<string, unknown>;
    const long = schema.fields.filter((field) => field.fieldKind === "list" && (fields[field.localName] as unknown[]).length > auditListItemsMax);
    if (long.length === 0) return boundDetails(storableJson(redactSecrets(toJson(schema, message) as Json)) as Record<string, Json>);
    const rest = { ...fields } as unknown as Message;
    for (const field of long) (rest as unknown as Record<string, unknown>)[field.localName] = [];
    const details = storableJson(redactSecrets(toJson(schema, rest) as Json)) as Record<string, Json>;
    for (const field of long) details[field.jsonName] = { count: (fields[field.localName] as unknown[]).length, omitted: true };
    return boundDetails(details);
  } catch (error) {
    // A value proto JSON cannot express (e.g. a Timestamp beyond year 9999): the handler answers
    // InvalidArgument for it; the audit row keeps why the request could not be copied.
    return { unencodable: true, reason: storableText(error instanceof Error ? error.message : String(error)) };
  }
}

/** A failed audit write does not fail the call: the mutation is already committed, and a client
 * retrying it (a second credit note) would be worse. It is logged at error level and counted. */
async function record(deps: AuditDeps, entry: Parameters<typeof insertAuditEntry>[1]): Promise<void> {
  try {
    await insertAuditEntry(deps.db, entry);
  } catch (error) {
    deps.metrics.auditWriteFailures.inc();
    deps.logger.error({ err: error, audit: entry }, "audit row could not be written");
  }
}
