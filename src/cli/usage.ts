// `tally usage ls ID`: one page of usage as a table, or every entry as CSV or JSON Lines.
import { Command, Option } from "commander";
import { SingleBar } from "cli-progress";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { listUsagePageSizeMax } from "../domain/usage-query.js";
import { ListUsageRequest_Ordering, Usage_Kind, UsageService, type Usage } from "../gen/usage/v1/usage_pb.js";
import { parseChoice, parseTime, parseWholeNumber, toTimestamp } from "./arguments.js";
import { csvRow, exitQuietlyOnClosedPipe, formatTable, truncate, write } from "./output.js";
import { clientFor, UsageError, withServerOption, type ServerOptions } from "./remote.js";
import { exportUsage, windowMsMax, type ExportProgress } from "./usage-export.js";

interface UsageLsOptions extends ServerOptions {
  from?: string;
  to?: string;
  user?: string;
  page: string;
  perPage: string;
  order: string;
  json?: boolean;
  csv?: boolean;
  progress: boolean;
}

export function usageCommand(): Command {
  const usage = new Command("usage").description("workspace-instance usage in the ledger");
  const ls = withServerOption(
    new Command("ls")
      .description(
        "list usage of an attribution id: one page as a table, or with --csv / --json every entry of the range " +
          "(any length: it walks 300-day windows and every page, in constant memory)",
      )
      .argument("<attribution-id>", "team:<uuid> or user:<uuid>")
      .option("--from <time>", "start, inclusive: 2026-01-01 (UTC) or 2026-01-01T12:00:00Z (default: 300 days before --to)")
      .option("--to <time>", "end, exclusive (default: now)")
      .option("--user <uuid>", "only entries of this user")
      .option("--page <n>", "table: the page to show", "1")
      .option("--per-page <n>", `table: entries per page, at most ${listUsagePageSizeMax}`, "50")
      .option("--order <order>", "desc (newest first) or asc", "desc")
      .addOption(new Option("--csv", "write every entry as CSV (RFC 4180) to stdout").conflicts("json"))
      .addOption(new Option("--json", "write every entry as JSON Lines (one object per line) to stdout").conflicts("csv"))
      .option("--no-progress", "no progress bar on stderr during --csv / --json (never shown when stderr is not a terminal)"),
  ).action(async (attributionId: string, options: UsageLsOptions) => {
    const order = parseChoice(options.order, "--order", ["desc", "asc"] as const);
    const to = options.to === undefined ? new Date() : parseTime(options.to, "--to");
    const from = options.from === undefined ? new Date(to.getTime() - windowMsMax) : parseTime(options.from, "--from");
    if (from > to) throw new UsageError(`--from ${from.toISOString()} must not be after --to ${to.toISOString()}`);
    const client = clientFor(UsageService, options);
    if (options.csv || options.json) {
      await exportAll(client, { attributionId, from, to, userId: options.user ?? "", order }, options);
    } else {
      await showPage(client, attributionId, from, to, order, options);
    }
  });
  return usage.addCommand(ls);
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
  const rows = response.usageEntries.map((entry) => {
    const metadata = parseMetadata(entry.metadata);
    return [
      isoTime(entry),
      String(entry.credits),
      entry.draft ? "draft" : "final",
      entry.workspaceInstanceId,
      stringField(metadata, "workspaceClass"),
      stringField(metadata, "userId"),
      truncate(entry.description, 50),
    ];
  });
  const total = Number(response.pagination?.total ?? 0n);
  const totalPages = Number(response.pagination?.totalPages ?? 0n);
  if (rows.length > 0) await write(formatTable(["TIME", "CREDITS", "STATE", "INSTANCE", "CLASS", "USER", "DESCRIPTION"], rows));
  await write(
    `page ${page} of ${Math.max(totalPages, 1)}, ${total} ${total === 1 ? "entry" : "entries"}, ` +
      `${response.creditsUsed} credits used from ${from.toISOString()} to ${to.toISOString()}\n`,
  );
}

async function exportAll(
  client: ReturnType<typeof clientFor<typeof UsageService>>,
  query: Parameters<typeof exportUsage>[1],
  options: UsageLsOptions,
): Promise<void> {
  exitQuietlyOnClosedPipe();
  const writeEntry = options.csv ? writeCsvEntry : writeJsonEntry;
  if (options.csv) await write(csvRow(csvHeader));
  const outcome = await exportUsage(client, query, writeEntry, progressBar(options.progress && process.stderr.isTTY === true));
  if (outcome.written !== outcome.expected) {
    process.stderr.write(
      `tally: warning: the ledger changed during the export: ${outcome.written} entries written, ${outcome.expected} announced at the start\n`,
    );
  }
}

const csvHeader = [
  "id",
  "attribution_id",
  "effective_time",
  "credits",
  "kind",
  "draft",
  "workspace_instance_id",
  "workspace_class",
  "user_id",
  "description",
  "metadata",
];

async function writeCsvEntry(entry: Usage): Promise<void> {
  const metadata = parseMetadata(entry.metadata);
  await write(
    csvRow([
      entry.id,
      entry.attributionId,
      isoTime(entry),
      String(entry.credits),
      kindName(entry.kind),
      String(entry.draft),
      entry.workspaceInstanceId,
      stringField(metadata, "workspaceClass"),
      stringField(metadata, "userId"),
      entry.description,
      entry.metadata,
    ]),
  );
}

async function writeJsonEntry(entry: Usage): Promise<void> {
  const line = {
    id: entry.id,
    attributionId: entry.attributionId,
    effectiveTime: isoTime(entry),
    credits: entry.credits,
    kind: kindName(entry.kind),
    draft: entry.draft,
    workspaceInstanceId: entry.workspaceInstanceId,
    description: entry.description,
    metadata: parseMetadata(entry.metadata),
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

function isoTime(entry: Usage): string {
  return entry.effectiveTime ? timestampDate(entry.effectiveTime).toISOString() : "";
}

function kindName(kind: Usage_Kind): string {
  return kind === Usage_Kind.WORKSPACE_INSTANCE ? "workspace_instance" : "invoice";
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
