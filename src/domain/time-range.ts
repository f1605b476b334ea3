// The instants Tally accepts and stores: the protobuf Timestamp range (years 1 to 9999), which both
// PostgreSQL and PGlite store, and which an ISO 8601 text of four-digit years can express. A time
// outside it, given or derived (a default "300 days before to"), is the caller's bad input.
import { invalidArgument } from "./tally-error.js";

export const storableTimeMin = new Date("0001-01-01T00:00:00.000Z");
export const storableTimeMax = new Date("9999-12-31T23:59:59.999Z");

/** `time` if it is within the storable range; else INVALID_ARGUMENT naming `field` (and `how` it was derived). */
export function storableTime(time: Date, field: string, how?: string): Date {
  const ms = time.getTime();
  if (Number.isNaN(ms) || ms < storableTimeMin.getTime() || ms > storableTimeMax.getTime()) {
    const shown = Number.isNaN(ms) ? "an invalid time" : time.toISOString();
    const derived = how ? ` (${how})` : "";
    throw invalidArgument(`${field}${derived} is ${shown}, outside ${storableTimeMin.toISOString()} .. ${storableTimeMax.toISOString()}`);
  }
  return time;
}
