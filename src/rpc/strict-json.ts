// Strict proto3 JSON for requests: what protobuf-es's parser lets through but a caller surely did
// not mean. Unknown field names (a typo such as `startTime` for `startedTime` would silently drop
// the value) and unknown enum names are refused by the parser itself (ignoreUnknownFields: false);
// this walk adds integers written in hex, with a fraction or an exponent ("0x10", "1.5") and
// timestamps of impossible dates (2026-02-30, which Date would roll over into March). Each problem
// names the field as the caller wrote it.
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";

/** Integer scalar types: JSON numbers without a fraction, or strings of decimal digits. */
const integerTypes = new Set<ScalarType>([
  ScalarType.INT32,
  ScalarType.UINT32,
  ScalarType.SINT32,
  ScalarType.FIXED32,
  ScalarType.SFIXED32,
  ScalarType.INT64,
  ScalarType.UINT64,
  ScalarType.SINT64,
  ScalarType.FIXED64,
  ScalarType.SFIXED64,
]);
const integerWrappers = new Set([
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
]);
const decimalInteger = /^-?\d+$/;
const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The first problem of a JSON request for `schema`, or undefined. */
export function strictJsonProblem(schema: DescMessage, json: unknown): string | undefined {
  return checkMessage(schema, json, "");
}

function checkMessage(schema: DescMessage, json: unknown, path: string): string | undefined {
  if (schema.typeName === "google.protobuf.Timestamp") return typeof json === "string" ? checkTimestamp(json, path) : undefined;
  if (integerWrappers.has(schema.typeName)) return checkInteger(json, path);
  // Other well-known types (Struct, Value, Any, Duration, FieldMask, ...) have JSON forms of their own.
  if (schema.typeName.startsWith("google.protobuf.")) return undefined;
  if (json === null || typeof json !== "object" || Array.isArray(json)) return undefined; // the parser names it
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const at = path === "" ? key : `${path}.${key}`;
    const field = schema.fields.find((candidate) => candidate.jsonName === key || candidate.name === key);
    if (!field) {
      const known = schema.fields.map((candidate) => candidate.jsonName);
      return `unknown field ${JSON.stringify(at)}: ${schema.typeName} has ${known.length === 0 ? "no fields" : `the fields ${known.join(", ")}`}`;
    }
    if (value === null) continue;
    const problem = checkField(field, value, at);
    if (problem) return problem;
  }
  return undefined;
}

function checkField(field: DescField, value: unknown, at: string): string | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return integerTypes.has(field.scalar) ? checkInteger(value, at) : undefined;
    case "enum":
      return undefined;
    case "message":
      return checkMessage(field.message, value, at);
    case "list": {
      if (!Array.isArray(value)) return undefined;
      for (const [index, item] of value.entries()) {
        const itemAt = `${at}[${index}]`;
        const problem =
          field.listKind === "message"
            ? checkMessage(field.message, item, itemAt)
            : field.listKind === "scalar" && integerTypes.has(field.scalar)
              ? checkInteger(item, itemAt)
              : undefined;
        if (problem) return problem;
      }
      return undefined;
    }
    case "map": {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const itemAt = `${at}[${JSON.stringify(key)}]`;
        const problem =
          field.mapKind === "message"
            ? checkMessage(field.message, item, itemAt)
            : field.mapKind === "scalar" && integerTypes.has(field.scalar)
              ? checkInteger(item, itemAt)
              : undefined;
        if (problem) return problem;
      }
      return undefined;
    }
  }
}

function checkInteger(value: unknown, at: string): string | undefined {
  if (typeof value === "number" && !Number.isInteger(value)) return `${at} ${value} is not a whole number`;
  if (typeof value === "string" && !decimalInteger.test(value)) {
    return `${at} ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)} is not a whole number in decimal digits`;
  }
  return undefined;
}

function checkTimestamp(text: string, at: string): string | undefined {
  const match = rfc3339.exec(text);
  if (!match) return undefined; // the parser refuses other shapes with its own message
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeapYear(year) ? 1 : 0);
  const dateOk = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth;
  const timeOk = hour <= 23 && minute <= 59 && second <= 59;
  const offsetOk = match[7] === undefined || (Number(match[8]) <= 23 && Number(match[9]) <= 59);
  if (dateOk && timeOk && offsetOk) return undefined;
  return `${at} ${JSON.stringify(text)} is not a valid time: ${!dateOk ? "no such date" : !timeOk ? "no such time of day" : "no such UTC offset"}`;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
