// What an audit row keeps of a request: its JSON with secrets redacted, bounded in size, and the
// attribution id it is about.
import { attributionIdLengthMax, parseAttributionId } from "./attribution-id.js";
import { TallyError } from "./tally-error.js";

/** Details larger than this (JSON bytes) are summarised: a batch of 1000 instances is not copied. */
export const auditDetailsBytesMax = 16 * 1024;
/** Field names that may hold secrets (client secrets, tokens, passwords, keys). */
const secretFieldPattern = /secret|password|token|apikey|api_key|privatekey|private_key/i;

const utf8 = new TextEncoder();

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Replaces the values of secret-looking fields, at any depth, by "[redacted]". */
export function redactSecrets(value: Json): Json {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== "object") return value;
  const result: Record<string, Json> = {};
  for (const [key, inner] of Object.entries(value)) {
    result[key] = secretFieldPattern.test(key) ? "[redacted]" : redactSecrets(inner);
  }
  return result;
}

/** PostgreSQL text and jsonb cannot hold U+0000: in audit rows it becomes U+FFFD, so the row is still written. */
export function storableText(text: string): string {
  // NUL, and UTF-16 surrogates without their pair (JSON may carry "\ud800" alone), which neither
  // text nor jsonb columns take.
  return text.replaceAll("\u0000", "\ufffd").replace(loneSurrogate, "\ufffd");
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Whether a JSON value nests objects and arrays deeper than `depthMax` (counted without recursion). */
export function nestsDeeperThan(value: unknown, depthMax: number): boolean {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (pending.length > 0) {
    const { value: next, depth } = pending.pop()!;
    if (next === null || typeof next !== "object") continue;
    if (depth + 1 > depthMax) return true;
    for (const inner of Object.values(next)) if (inner !== null && typeof inner === "object") pending.push({ value: inner, depth: depth + 1 });
  }
  return false;
}

/** `storableText` for every string, keys included, at any depth. */
export function storableJson(value: Json): Json {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [storableText(key), storableJson(inner)]));
}

/**
 * Keeps details of at most auditDetailsBytesMax: first lists are replaced by their length, then, if
 * still too large, only a note of the size remains. The summary says what was dropped.
 */
export function boundDetails(details: Record<string, Json>): Record<string, Json> {
  const size = (value: unknown) => utf8.encode(JSON.stringify(value)).length;
  const bytes = size(details);
  if (bytes <= auditDetailsBytesMax) return details;
  const summary: Record<string, Json> = {};
  for (const [key, value] of Object.entries(details)) {
    summary[key] = Array.isArray(value) ? { count: value.length, omitted: true } : value;
  }
  if (size(summary) <= auditDetailsBytesMax) return summary;
  return { omitted: true, requestBytes: bytes };
}

/**
 * The attribution id a request is about: an `attributionId` field at the top or one level down
 * (e.g. `costCenter.attributionId`), in canonical form when valid. Lists are not searched: a batch
 * is about many.
 */
export function attributionIdOf(details: Record<string, Json>): string | undefined {
  const found = findAttributionId(details, 0);
  if (found === undefined) return undefined;
  try {
    return parseAttributionId(found).text;
  } catch (error) {
    if (!(error instanceof TallyError)) throw error;
    // An invalid id is still worth recording (the attempt failed with InvalidArgument), bounded.
    return found.slice(0, attributionIdLengthMax);
  }
}

function findAttributionId(value: Record<string, Json>, depth: number): string | undefined {
  const direct = value.attributionId;
  if (typeof direct === "string" && direct !== "") return direct;
  if (depth >= 1) return undefined;
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) {
      const found = findAttributionId(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
