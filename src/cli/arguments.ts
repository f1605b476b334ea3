// Parsing command-line values: attribution ids stay as given (the server validates them); times,
// whole numbers and choices are checked here so a typo never reaches the server.
import { UsageError } from "./remote.js";

/** "2026-01-31" (midnight UTC) or an ISO 8601 date-time with a zone: "2026-01-31T12:00:00Z", "...+02:00". */
export function parseTime(text: string, option: string): Date {
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(text);
  const time = new Date(dateOnly ? `${text}T00:00:00Z` : text);
  if ((!dateOnly && !withZone) || Number.isNaN(time.getTime()) || !isCalendarDate(text.slice(0, 10))) {
    throw new UsageError(`${option} ${JSON.stringify(text)} is not a date (2026-01-31) or a date-time with a zone (2026-01-31T12:00:00Z)`);
  }
  return time;
}

/** JavaScript turns 2026-02-30 into March 2; a typo like that is refused instead. */
function isCalendarDate(text: string): boolean {
  const [year, month, day] = text.split("-").map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export function parseWholeNumber(text: string, what: string, bounds: { min: number; max: number }): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${what} ${JSON.stringify(text)} must be a whole number`);
  const value = Number(text);
  if (value < bounds.min || value > bounds.max) {
    throw new UsageError(`${what} ${text} must be between ${bounds.min} and ${bounds.max}`);
  }
  return value;
}

export function parseChoice<T extends string>(text: string, what: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${what} ${JSON.stringify(text)} must be one of ${choices.join(", ")}`);
  }
  return text as T;
}
