// RFC 4122 (and RFC 9562) UUIDs in their canonical textual form.

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Why a value is not a UUID, or undefined when it is one. */
export function explainNotUuid(value: string): string | undefined {
  if (value.length !== 36) return `is ${value.length} characters long, a UUID has 36`;
  if (!/^[0-9a-f-]+$/i.test(value)) return "contains characters other than hex digits and dashes";
  if (!uuidPattern.test(value)) return "is not an RFC 4122 UUID (bad dashes, version or variant)";
  return undefined;
}
