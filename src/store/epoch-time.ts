// Times as numbers between Tally and the database, exactly: written as Unix milliseconds into
// float8 array parameters, read back as float8 Unix seconds (date_part('epoch', ...)). ISO 8601
// text cost two to ten times as much at either end on the hot paths (ingestion, reconcile).
import { sql, type SQL } from "drizzle-orm";

/**
 * Times as Unix milliseconds (the statement turns them into timestamptz with epochMsTime). Cheaper
 * than ISO 8601 text at both ends: Date#toISOString costs about 0.5 µs a value and PostgreSQL's
 * timestamp parser 0.33 µs, a number's digits about 0.25 µs and float8's parser 0.03 µs; an
 * ingested instance has four times.
 */
export function epochMsArray(times: readonly (Date | null | undefined)[]): string {
  return `{${times.map((time) => (time ? String(time.getTime()) : "NULL")).join(",")}}`;
}

/**
 * timestamptz from a float8 of Unix milliseconds (an element of an epochMsArray), exactly: the
 * product of whole milliseconds and 1000 microseconds is an exact float8 integer up to the year
 * 2255, and adding a pure time interval involves no time zone.
 */
export function epochMsTime(column: SQL): SQL {
  return sql`(timestamptz 'epoch' + ${column} * interval '1 millisecond')`;
}

/**
 * The exact microseconds of a float8 of Unix seconds as date_part('epoch', t) gives it (the int8
 * microseconds divided by 10^6, correctly rounded). For |seconds| < 2^32 (1833 to 2106) the float
 * is within 0.24 µs of the time and the product within another 0.25 µs, so rounding recovers the
 * integer; reported times are held to 1970 .. a day past now (workspace-instance.ts).
 */
export function epochMicros(seconds: number): number {
  return Math.round(seconds * 1e6);
}

/**
 * The Date of a time read as date_part('epoch', t): milliseconds rounded down, as the driver's own
 * timestamptz parser does.
 */
export function dateFromEpochSeconds(seconds: number): Date {
  return new Date(Math.floor(epochMicros(seconds) / 1000));
}

/** An exact timestamptz literal (ISO 8601, UTC, microseconds) of Unix microseconds. */
export function timestamptzLiteral(micros: number): string {
  const ms = Math.floor(micros / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(micros - ms * 1000).padStart(3, "0")}Z`;
}
