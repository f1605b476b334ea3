// Array parameters for bulk statements (`unnest($1::uuid[], ...)`), written as PostgreSQL array
// literals here instead of by the driver: pg's own conversion of a JS array escapes element by
// element into a string built piece by piece, which cost about as much CPU as the database's whole
// work on an ingested batch (bench/profile-intake.ts). One literal per column, joined at once, is
// the same text on PostgreSQL and PGlite: the statement casts the parameter (`::uuid[]`).

/**
 * Values that need no quoting in an array literal: canonical UUIDs, ISO 8601 timestamps, integers.
 * null (or undefined) is NULL.
 */
export function plainArray(values: readonly (string | null | undefined)[]): string {
  return `{${values.map((value) => value ?? "NULL").join(",")}}`;
}

/** Any text, each element double-quoted (backslashes and double quotes escaped); null is NULL. */
export function textArray(values: readonly (string | null | undefined)[]): string {
  return `{${values.map(quoteElement).join(",")}}`;
}

export function boolArray(values: readonly boolean[]): string {
  return `{${values.map((value) => (value ? "t" : "f")).join(",")}}`;
}

const needsEscape = /["\\]/;

function quoteElement(value: string | null | undefined): string {
  if (value === null || value === undefined) return "NULL";
  return needsEscape.test(value) ? `"${value.replace(/["\\]/g, "\\$&")}"` : `"${value}"`;
}
