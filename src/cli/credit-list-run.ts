// `tally credit ls`: the listing (the command's definition: credit-list.ts).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { listUsagePageSizeMax } from "../domain/limits.js";
import { LedgerEntry_Kind, ReportService, type LedgerEntry } from "../gen/usage/v1/report_pb.js";
import { parseWholeNumber } from "./arguments.js";
import { clientFor } from "./client.js";
import type { CreditLsOptions } from "./credit-list.js";
import { creditsText, formatTable, pageSummary, truncate, write } from "./output.js";

export async function listCredits(attributionId: string, options: CreditLsOptions): Promise<void> {
  const page = parseWholeNumber(options.page, "--page", { min: 1, max: 2_000_000_000 });
  const perPage = parseWholeNumber(options.perPage, "--per-page", { min: 1, max: listUsagePageSizeMax });
  const response = await clientFor(ReportService, options).listCreditNotesAndInvoices({
    attributionId,
    pagination: { page: BigInt(page), perPage: BigInt(perPage) },
  });
  const summary = pageSummary(page, Number(response.pagination?.totalPages ?? 0n), Number(response.pagination?.total ?? 0n));
  if (options.json) {
    for (const entry of response.entries) await write(JSON.stringify(entryView(entry)) + "\n");
    return;
  }
  const rows = response.entries.map((entry) => {
    const view = entryView(entry);
    return [view.effectiveTime, view.kind, view.credits, view.userId, truncate(view.description, 60)];
  });
  if (rows.length > 0) await write(formatTable(["TIME", "KIND", "CREDITS", "USER", "DESCRIPTION"], rows));
  await write(`${summary}\n`);
}

function entryView(entry: LedgerEntry) {
  let metadata: Record<string, unknown> = {};
  try {
    metadata = JSON.parse(entry.metadata || "{}") as Record<string, unknown>;
  } catch {
    // shown without the user
  }
  return {
    id: entry.id,
    effectiveTime: entry.effectiveTime ? timestampDate(entry.effectiveTime).toISOString() : "",
    kind: entry.kind === LedgerEntry_Kind.CREDIT_NOTE ? "credit_note" : entry.kind === LedgerEntry_Kind.INVOICE ? "invoice" : "workspace_instance",
    credits: creditsText(entry.creditCents),
    userId: typeof metadata.userId === "string" ? metadata.userId : "",
    description: entry.description,
  };
}
