// Attribution ids: "<kind>:<uuid>" where kind is team or user.
import { explainNotUuid } from "./uuid.js";
import { invalidArgument } from "./tally-error.js";

export type AttributionKind = "team" | "user";

export interface AttributionId {
  readonly kind: AttributionKind;
  readonly uuid: string;
  /** The canonical text form, lower-case. */
  readonly text: string;
}

export const attributionIdLengthMax = 128;

/** Parses an attribution id or throws InvalidArgument naming the value and the rule it breaks. */
export function parseAttributionId(value: string, field = "attribution_id"): AttributionId {
  if (value === "") throw invalidArgument(`${field} is required`);
  // Quoted only for a message (parsed once per ingested instance).
  const shown = () => JSON.stringify(value.length > attributionIdLengthMax ? value.slice(0, attributionIdLengthMax) + "…" : value);
  if (value.length > attributionIdLengthMax) {
    throw invalidArgument(`${field} ${shown()} is longer than ${attributionIdLengthMax} characters`);
  }
  const colon = value.indexOf(":");
  if (colon < 0) {
    throw invalidArgument(`${field} ${shown()} has no colon: expected "team:<uuid>" or "user:<uuid>"`);
  }
  const kind = value.slice(0, colon);
  if (kind !== "team" && kind !== "user") {
    throw invalidArgument(`${field} ${shown()}: unknown kind ${JSON.stringify(kind)}, expected "team" or "user"`);
  }
  const uuid = value.slice(colon + 1);
  const why = explainNotUuid(uuid);
  if (why !== undefined) {
    throw invalidArgument(`${field} ${shown()}: the part after "${kind}:" ${why}`);
  }
  const canonical = uuid.toLowerCase();
  return { kind, uuid: canonical, text: `${kind}:${canonical}` };
}

/** Validates an optional user id (empty means absent); returns the canonical form or undefined. */
export function parseOptionalUserId(value: string, field = "user_id"): string | undefined {
  return value === "" ? undefined : parseUuid(value, field);
}

/** A required UUID in canonical lower-case form, or InvalidArgument naming `field`, the value and the rule. */
export function parseUuid(value: string, field: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  const why = explainNotUuid(value);
  if (why !== undefined) throw invalidArgument(`${field} ${quoteValue(value)} ${why}`);
  return value.toLowerCase();
}

/** A value as error messages quote it: JSON, cut after 80 characters. */
export function quoteValue(value: string): string {
  return JSON.stringify(value.length > 80 ? value.slice(0, 80) + "…" : value);
}
