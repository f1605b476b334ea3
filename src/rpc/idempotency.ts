// The idempotency-key request header (gRPC metadata or HTTP header alike) of a mutation, turned into
// a claim the services keep (services/idempotency.ts); and billing's mutations made idempotent whole.
import { createHash } from "node:crypto";
import { create, fromJson, toBinary, toJson, type DescMessage, type DescService, type JsonValue, type Message } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { accessOf } from "../access/procedure-access.js";
import type { Clock } from "../domain/clock.js";
import { idempotencyKeyHeader, parseIdempotencyKey, type IdempotencyClaim } from "../domain/idempotency-key.js";
import { idempotentCall } from "../services/idempotency.js";
import type { Database } from "../store/database.js";

/** The request's idempotency claim, or undefined when it sent no key. */
export function idempotencyClaimOf(context: HandlerContext, request: Message): IdempotencyClaim | undefined {
  const key = parseIdempotencyKey(context.requestHeader.get(idempotencyKeyHeader));
  if (key === undefined) return undefined;
  // The binary encoding of the decoded message: the same request hashes the same over gRPC, gRPC-Web
  // and Connect, in JSON or binary.
  const requestHash = createHash("sha256").update(toBinary(context.method.input, request)).digest("hex");
  return { key, procedure: `${context.service.typeName}/${context.method.name}`, requestHash };
}

/**
 * Wraps every mutating unary method of `impl` (access/procedure-access.ts) so that a request with an
 * idempotency key runs at most once: its response is stored (as proto JSON) and replayed to retries.
 * For services whose calls cannot be one database transaction (billing); see idempotentCall.
 */
export function idempotentMutations<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  deps: { readonly db: Database; readonly clock: Clock },
): ServiceImpl<S> {
  const wrapped: Record<string, unknown> = { ...(impl as Record<string, unknown>) };
  for (const method of service.methods) {
    if (method.methodKind !== "unary" || accessOf(service.typeName, method.name) !== "mutate") continue;
    const handler = (impl as Record<string, (request: Message, context: HandlerContext) => Promise<unknown>>)[method.localName];
    if (!handler) continue;
    const output: DescMessage = method.output;
    wrapped[method.localName] = async (request: Message, context: HandlerContext) => {
      const claim = idempotencyClaimOf(context, request);
      const stored = await idempotentCall(deps.db, deps.clock, claim, async () =>
        toJson(output, create(output, (await handler.call(impl, request, context)) as never)),
      );
      return fromJson(output, stored as JsonValue);
    };
  }
  return wrapped as ServiceImpl<S>;
}
