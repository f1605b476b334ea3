// RFC 9562 (formerly 4122) UUIDs in their canonical textual form, checked by the `uuid` package.
import { validate, version } from "uuid";

/**
 * A UUID of versions 1-8 with the RFC variant, either case: exactly what the checks below accept,
 * in one match, for the hot path (three ids per ingested instance).
 */
const wellFormedUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Why a value is not a UUID, or undefined when it is one (versions 1-8; the nil and max UUIDs are not ids). */
export function explainNotUuid(value: string): string | undefined {
  if (wellFormedUuid.test(value)) return undefined;
  if (value.length !== 36) return `is ${value.length} characters long, a UUID has 36`;
  if (!/^[0-9a-f-]+$/i.test(value)) return "contains characters other than hex digits and dashes";
  if (!validate(value)) return "is not an RFC 4122 UUID (bad dashes, version or variant)";
  const v = version(value);
  if (v < 1 || v > 8) return "is not an RFC 4122 UUID (bad dashes, version or variant)";
  return undefined;
}
