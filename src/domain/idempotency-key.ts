// Idempotency keys: what a client may send in the `idempotency-key` header of a mutation, and how a
// result is kept (as JSON) to be replayed to its retries.
import { invalidArgument } from "./tally-error.js";

/** The header (gRPC metadata or HTTP) that carries the key. */
export const idempotencyKeyHeader = "idempotency-key";
/** Longer keys are refused: a UUID is 36 characters, Stripe allows 255. */
export const idempotencyKeyLengthMax = 255;

/** The key of a request, or undefined when it sent none (an empty header is none). */
export function parseIdempotencyKey(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  if (value.length > idempotencyKeyLengthMax) {
    throw invalidArgument(`${idempotencyKeyHeader} header is ${value.length} characters long; at most ${idempotencyKeyLengthMax} are allowed`);
  }
  // Printable ASCII without spaces: keys travel in headers, logs and Stripe's own Idempotency-Key.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw invalidArgument(`${idempotencyKeyHeader} header ${JSON.stringify(value)} must be printable ASCII without spaces (e.g. a UUID)`);
  }
  return value;
}

/** What a request with a key is recognised by: the key, the procedure and a hash of the request. */
export interface IdempotencyClaim {
  readonly key: string;
  /** "package.Service/Method". */
  readonly procedure: string;
  /** Hex SHA-256 of the request message (protobuf binary): equal for equal requests over any protocol. */
  readonly requestHash: string;
}

/** Why a stored key cannot serve `claim`, or undefined when the stored request is the same one. */
export function explainKeyConflict(claim: IdempotencyClaim, stored: { procedure: string; requestHash: string; createdAt: Date }): string | undefined {
  if (stored.procedure === claim.procedure && stored.requestHash === claim.requestHash) return undefined;
  const what = stored.procedure === claim.procedure ? "a different request" : stored.procedure;
  return `idempotency key ${JSON.stringify(claim.key)} was already used for ${what} at ${stored.createdAt.toISOString()}; send a new key for a new request`;
}

export type StoredJson = null | boolean | number | string | StoredJson[] | { [key: string]: StoredJson };

/** A result as JSON, keeping what JSON cannot say on its own: bigints and dates. */
export function resultToJson(value: unknown): StoredJson {
  const text = JSON.stringify(value ?? null, function (this: Record<string, unknown>, key: string, encoded: unknown) {
    const original = this[key];
    if (original instanceof Date) return { $date: original.toISOString() };
    if (typeof encoded === "bigint") return { $bigint: encoded.toString() };
    return encoded;
  });
  return JSON.parse(text) as StoredJson;
}

/** The result resultToJson kept. */
export function resultFromJson<T>(json: unknown): T {
  return JSON.parse(JSON.stringify(json), (_key, value: unknown) => {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === "$date") return new Date((value as { $date: string }).$date);
      if (keys.length === 1 && keys[0] === "$bigint") return BigInt((value as { $bigint: string }).$bigint);
    }
    return value;
  }) as T;
}
