// Display formats: credits with two decimals, UTC times, and <input type="date"> values.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const creditsFormat = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compactFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, notation: "compact" });
export const dayMs = 86_400_000;

/** Credits from the wire (a double of whole cents). */
export function formatCredits(credits: number): string {
  return creditsFormat.format(credits);
}

/** Exact credits from integer credit cents. */
export function formatCents(cents: bigint): string {
  const negative = cents < 0n;
  const magnitude = negative ? -cents : cents;
  const whole = (magnitude / 100n).toLocaleString("en-US");
  const fraction = (magnitude % 100n).toString().padStart(2, "0");
  return `${negative ? "−" : ""}${whole}.${fraction}`;
}

export function formatCompact(credits: number): string {
  return compactFormat.format(credits);
}

export function formatUtc(timestamp: Timestamp | undefined): string {
  if (!timestamp) return "";
  return timestampDate(timestamp).toISOString().slice(0, 16).replace("T", " ");
}

/** To the second: delivery attempts a moment apart. */
export function formatUtcSeconds(timestamp: Timestamp | undefined): string {
  if (!timestamp) return "";
  return timestampDate(timestamp).toISOString().slice(0, 19).replace("T", " ");
}

export function formatUtcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** The UTC day of a date input ("2026-01-15"), or undefined when blank or malformed. */
export function parseDay(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const date = new Date(`${value}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function todayUtc(): string {
  return formatUtcDay(new Date());
}

export function daysBefore(day: string, days: number): string {
  const date = parseDay(day) ?? new Date();
  return formatUtcDay(new Date(date.getTime() - days * dayMs));
}
