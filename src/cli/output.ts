// Writing to stdout: aligned tables (CSV records: csv.ts), and writes that respect backpressure so an export
// of any size runs in constant memory.
import { once } from "node:events";
import { UsageError } from "./remote.js";

/** Writes and, when the pipe is full, waits until it drains. */
export async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, "drain");
}

/** A reader that went away (`tally usage ls --csv | head`) ends the command quietly. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

/** Columns padded to their widest cell; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

export function truncate(text: string, lengthMax: number): string {
  const oneLine = text.replace(/\s+/g, " ");
  return oneLine.length <= lengthMax ? oneLine : oneLine.slice(0, lengthMax - 1) + "…";
}

/**
 * "page N of M, T entries": M is at least 1 (an empty listing is one empty page), and a page past M
 * is refused (exit 2) instead of shown as "page 5 of 3".
 */
export function pageSummary(page: number, totalPages: number, total: number): string {
  const pages = Math.max(totalPages, 1);
  if (page > pages) throw new UsageError(`--page ${page} is past the last page: ${total} ${total === 1 ? "entry fills" : "entries fill"} ${pages} ${pages === 1 ? "page" : "pages"}`);
  return `page ${page} of ${pages}, ${total} ${total === 1 ? "entry" : "entries"}`;
}

/** Exact credits from credit cents: -1250 -> "-12.5". */
export function creditsText(cents: bigint): string {
  const sign = cents < 0n ? "-" : "";
  const abs = cents < 0n ? -cents : cents;
  const fraction = (abs % 100n).toString().padStart(2, "0").replace(/0+$/, "");
  return `${sign}${abs / 100n}${fraction ? `.${fraction}` : ""}`;
}
