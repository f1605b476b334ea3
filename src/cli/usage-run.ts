// `tally usage ls`: the table and the exports (the command's definition: usage.ts).
import { SingleBar } from "cli-progress";
import { timestampDate, timestampFromDate as toTimestamp } from "@bufbuild/protobuf/wkt";
import { listUsagePageSizeMax } from "../domain/limits.js";
import { ListUsageRequest_Ordering, Usage_Kind, UsageService, type Usage } from "../gen/usage/v1/usage_pb.js";
import { LedgerEntry_Kind, ReportService, type LedgerEntry } from "../gen/usage/v1/report_pb.js";
import { parseChoice, parseTime, parseWholeNumber } from "./arguments.js";
import { clientFor } from "./client.js";
import { csvRow } from "./csv.js";
import { creditsText, exitQuietlyOnClosedPipe, formatTable, pageSummary, truncate, write } from "./output.js";
import { UsageError } from "./remote.js";
import { entryKinds, type EntryKind, type UsageLsOptions } from "./usage.js";
import { exportUsage, windowMsMax, type ExportProgress } from "./usage-export.js";

export async function listUsage(attributionId: string, options: UsageLsOptions): Promise<void> {
  const order = parseChoice(options.order, "--order", ["desc", "asc"] as const);
  const kind = parseChoice(options.kind, "--kind", entryKinds);
  if (kind !== "workspace_instance" && !options.csv && !options.json) {
    throw new UsageError(`--kind ${kind} needs --csv or --json (the table lists usage; credit notes and invoices: tally credit ls)`);
  }
  const to = options.to === undefined ? new Date() : parseTime(options.to, "--to");
  const from = options.from === undefined ? new Date(to.getTime() - windowMsMax) : parseTime(options.from, "--from");
  if (from > to) throw new UsageError(`--from ${from.toISOString()} must not be after --to ${to.toISOString()}`);
  const client = clientFor(UsageService, options);
  if (options.csv || options.json) {
    await exportAll(client, clientFor(ReportService, options), { attributionId, from, to, userId: options.user ?? "", order }, kind, options);
  } else {
    await showPage(client, attributionId, from, to, order, options);
  }
}

async function showPage(
  client: ReturnType<typeof clientFor<typeof UsageService>>,
  attributionId: string,
  from: Date,
  to: Date,
  order: "asc" | "desc",
  options: UsageLsOptions,
): Promise<void> {
  const page = parseWholeNumber(options.page, "--page", { min: 1, max: 2_000_000_000 });
  const perPage = parseWholeNumber(options.perPage, "--per-page", { min: 1, max: listUsagePageSizeMax });
  if (to.getTime() - from.getTime() > windowMsMax) {
    throw new UsageError("a table shows at most 300 days; narrow --from/--to, or export any range with --csv or --json");
  }
  const response = await client.listUsage({
    attributionId,
    from: toTimestamp(from),
    to: toTimestamp(to),
    userId: options.user ?? "",
    order: order === "asc" ? ListUsageRequest_Ordering.ASCENDING : ListUsageRequest_Ordering.DESCENDING,
    pagination: { page: BigInt(page), perPage: BigInt(perPage) },
  });
  const rows = response.usageEntries.map((entry) => tableRow(usageRow(entry)));
  const total = Number(response.pagination?.total ?? 0n);
  const totalPages = Number(response.pagination?.totalPages ?? 0n);
  const summary = pageSummary(page, totalPages, total);
  if (rows.length > 0) await write(formatTable(["TIME", "CREDITS", "STATE", "INSTANCE", "CLASS", "USER", "DESCRIPTION"], rows));
  await write(`${summary}, ${response.creditsUsed} credits used from ${from.toISOString()} to ${to.toISOString()}\n`);
}


/** One listed entry, whatever its kind: a line of the table, the CSV or the JSON Lines. */
interface EntryRow {
  readonly id: string;
  readonly attributionId: string;
  readonly effectiveMs: number;
  /** Exact decimal text, e.g. "-12.5". */
  readonly credits: string;
  readonly kind: "workspace_instance" | "credit_note" | "invoice";
  readonly draft: boolean;
  readonly workspaceInstanceId: string;
  readonly description: string;
  readonly metadata: Record<string, unknown>;
}

async function exportAll(
  client: ReturnType<typeof clientFor<typeof UsageService>>,
  reports: ReturnType<typeof clientFor<typeof ReportService>>,
  query: Parameters<typeof exportUsage>[1],
  kind: EntryKind,
  options: UsageLsOptions,
): Promise<void> {
  exitQuietlyOnClosedPipe();
  const writeRow = options.csv ? writeCsvRow : writeJsonRow;
  if (options.csv) await write(csvRow(csvHeader));
  // Credit notes and invoices are few: read them all first, then merge them into the usage stream in order.
  const payments = kind === "workspace_instance" ? [] : await paymentsOf(reports, query, kind);
  const comesFirst = (a: EntryRow, b: EntryRow) => (query.order === "asc" ? a.effectiveMs <= b.effectiveMs : a.effectiveMs >= b.effectiveMs);
  let next = 0;
  const writeEntry = async (entry: Usage) => {
    const row = usageRow(entry);
    while (next < payments.length && comesFirst(payments[next]!, row)) await writeRow(payments[next++]!);
    await writeRow(row);
  };
  if (kind === "workspace_instance" || kind === "all") {
    const outcome = await exportUsage(client, query, writeEntry, progressBar(options.progress && process.stderr.isTTY === true));
    if (outcome.written !== outcome.expected) {
      process.stderr.write(
        `tally: warning: the ledger changed during the export: ${outcome.written} entries written, ${outcome.expected} announced at the start\n`,
      );
    }
  }
  while (next < payments.length) await writeRow(payments[next++]!);
}

/** Credit notes and invoices in [from, to) (of the user, if given), in the export's order. */
async function paymentsOf(
  reports: ReturnType<typeof clientFor<typeof ReportService>>,
  query: Parameters<typeof exportUsage>[1],
  kind: EntryKind,
): Promise<EntryRow[]> {
  const rows: EntryRow[] = [];
  for (let page = 1; ; page++) {
    const response = await reports.listCreditNotesAndInvoices({
      attributionId: query.attributionId,
      pagination: { page: BigInt(page), perPage: BigInt(listUsagePageSizeMax) },
    });
    for (const entry of response.entries) {
      const row = paymentRow(entry);
      if (kind !== "all" && row.kind !== kind) continue;
      if (row.effectiveMs < query.from.getTime() || row.effectiveMs >= query.to.getTime()) continue;
      if (query.userId !== "" && stringField(row.metadata, "userId").toLowerCase() !== query.userId.toLowerCase()) continue;
      rows.push(row);
    }
    if (page >= Number(response.pagination?.totalPages ?? 0n)) break;
  }
  // Listed newest first; ties in time by id, as the usage listing.
  rows.sort((a, b) => a.effectiveMs - b.effectiveMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return query.order === "asc" ? rows : rows.reverse();
}

function usageRow(entry: Usage): EntryRow {
  const kind = entry.kind === Usage_Kind.WORKSPACE_INSTANCE ? "workspace_instance" : "invoice";
  return entryRow(entry, String(entry.credits), kind, entry.workspaceInstanceId);
}

function paymentRow(entry: LedgerEntry): EntryRow {
  return entryRow(entry, creditsText(entry.creditCents), entry.kind === LedgerEntry_Kind.CREDIT_NOTE ? "credit_note" : "invoice", "");
}

/** The fields a usage entry and a credit note or invoice share, with the ones they spell differently. */
function entryRow(entry: Usage | LedgerEntry, credits: string, kind: EntryRow["kind"], workspaceInstanceId: string): EntryRow {
  return {
    id: entry.id,
    attributionId: entry.attributionId,
    // The server always sends it (the column is NOT NULL).
    effectiveMs: entry.effectiveTime ? timestampDate(entry.effectiveTime).getTime() : 0,
    credits,
    kind,
    draft: entry.draft,
    workspaceInstanceId,
    description: entry.description,
    metadata: parseMetadata(entry.metadata),
  };
}

/** A line of the table of one page (usage only). */
function tableRow(row: EntryRow): string[] {
  return [
    new Date(row.effectiveMs).toISOString(),
    row.credits,
    row.draft ? "draft" : "final",
    row.workspaceInstanceId,
    stringField(row.metadata, "workspaceClass"),
    stringField(row.metadata, "userId"),
    truncate(row.description, 50),
  ];
}

/** Seconds from the instance's start to its end (a draft's: to its effective time, when it was booked). */
function runtimeSeconds(row: EntryRow): string {
  if (row.kind !== "workspace_instance") return "";
  const start = Date.parse(stringField(row.metadata, "startTime"));
  if (Number.isNaN(start)) return "0";
  const endText = stringField(row.metadata, "endTime");
  const end = endText === "" ? row.effectiveMs : Date.parse(endText);
  return String(Number.isNaN(end) || end <= start ? 0 : Math.floor((end - start) / 1000));
}

const csvHeader = [
  "id",
  "attribution_id",
  "effective_time",
  "credits",
  "kind",
  "draft",
  "workspace_instance_id",
  "workspace_id",
  "workspace_class",
  "workspace_type",
  "runtime_seconds",
  "user_id",
  "description",
  "metadata",
];

async function writeCsvRow(row: EntryRow): Promise<void> {
  await write(
    csvRow([
      row.id,
      row.attributionId,
      new Date(row.effectiveMs).toISOString(),
      row.credits,
      row.kind,
      String(row.draft),
      row.workspaceInstanceId,
      stringField(row.metadata, "workspaceId"),
      stringField(row.metadata, "workspaceClass"),
      stringField(row.metadata, "workspaceType"),
      runtimeSeconds(row),
      stringField(row.metadata, "userId"),
      row.description,
      JSON.stringify(row.metadata),
    ]),
  );
}

async function writeJsonRow(row: EntryRow): Promise<void> {
  const runtime = runtimeSeconds(row);
  const line = {
    id: row.id,
    attributionId: row.attributionId,
    effectiveTime: new Date(row.effectiveMs).toISOString(),
    credits: Number(row.credits),
    kind: row.kind,
    draft: row.draft,
    workspaceInstanceId: row.workspaceInstanceId,
    ...(runtime === "" ? {} : { runtimeSeconds: Number(runtime) }),
    description: row.description,
    metadata: row.metadata,
  };
  await write(JSON.stringify(line) + "\n");
}

function progressBar(shown: boolean): ExportProgress {
  if (!shown) return { start() {}, advance() {}, stop() {} };
  const bar = new SingleBar({
    stream: process.stderr,
    format: "exporting [{bar}] {percentage}% | {value}/{total} entries | ETA {eta_formatted}",
    hideCursor: true,
    etaBuffer: 50,
  });
  return {
    start: (total) => bar.start(total, 0),
    advance: (count) => bar.increment(count),
    stop: () => bar.stop(),
  };
}

function parseMetadata(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text || "{}");
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function stringField(metadata: Record<string, unknown>, key: string): string {
  const value = metadata[key];
  return typeof value === "string" ? value : "";
}
