// `tally import gitpod --database-url mysql://...`: copies an existing Gitpod installation's cost
// centers, usage entries and Stripe customers into Tally's database (DATABASE_URL, or the embedded
// one in TALLY_DATA_DIR: stop `tally serve` on it first), then verifies every balance and cost center.
// Exit code 0: imported and verified; 1: refused rows or mismatches (listed); 2: bad arguments.
import { Command } from "commander";
import { write } from "./output.js";
import type { ImportProgress, ImportReport } from "../gitpod/gitpod-import.js";

/** Refused rows and mismatches printed in full up to this many each; the rest are counted. */
export const importListedMax = 100;

export function importCommand(): Command {
  const command = new Command("import").description("import the state of an existing installation");
  command
    .command("gitpod")
    .description(
      "copy an existing Gitpod installation's cost centers, usage entries (drafts included, ids kept) and Stripe customers " +
        "from its MySQL database into Tally's database, then verify every balance and cost center; idempotent and resumable",
    )
    .requiredOption("--database-url <url>", "Gitpod's database: mysql://user:password@host:port/database (read only)")
    .option("--dry-run", "read and check everything, report what would be imported, write nothing")
    .option("--data-dir <dir>", "Tally's embedded database directory when DATABASE_URL is unset (env TALLY_DATA_DIR)")
    .option("--no-progress", "no progress lines")
    .action(async (options: { databaseUrl: string; dryRun?: boolean; dataDir?: string; progress: boolean }) => {
      const { loadConfig } = await import("../config.js");
      const { openDatabase } = await import("../store/database.js");
      const { openGitpodDatabase } = await import("../gitpod/gitpod-database.js");
      const { importGitpod, importSucceeded } = await import("../gitpod/gitpod-import.js");
      let url: URL;
      try {
        url = new URL(options.databaseUrl);
        if (url.protocol !== "mysql:") throw new Error("not mysql");
      } catch {
        process.stderr.write("tally: --database-url must be a URL like mysql://user:password@host:3306/gitpod\n");
        process.exitCode = 2;
        return;
      }
      const env = { ...process.env };
      if (options.dataDir !== undefined) env.TALLY_DATA_DIR = options.dataDir;
      const config = loadConfig(env);
      const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeouts: config.databaseTimeouts });
      const gitpod = openGitpodDatabase({
        url: url.toString(),
        connectTimeoutMs: config.databaseConnectTimeoutMs,
        // A count or sum over a big d_b_usage may take longer than one page read.
        queryTimeoutMs: Math.max(config.databaseQueryTimeoutMs, 120_000),
      });
      const started = performance.now();
      let lastLine = 0;
      const progress = (step: ImportProgress) => {
        if (!options.progress) return;
        const now = performance.now();
        if (step.done < step.total && now - lastLine < 1000) return;
        lastLine = now;
        const rate = step.phase === "usage" ? `, ${Math.round(step.done / ((now - started) / 1000))}/s` : "";
        process.stderr.write(`${step.phase}: ${step.done} of ${step.total}${rate}\n`);
      };
      try {
        await write(`${options.dryRun ? "dry run: " : ""}importing from ${gitpod.description} into ${database.description}\n`);
        const report = await importGitpod({ gitpod, db: database.db, now: () => new Date(), dryRun: options.dryRun, onProgress: progress });
        await write(formatImportReport(report));
        process.exitCode = options.dryRun ? (report.refused.length > 0 ? 1 : 0) : importSucceeded(report) ? 0 : 1;
      } finally {
        await gitpod.close();
        await database.close();
      }
    });
  return command;
}

export function formatImportReport(report: ImportReport): string {
  const lines: string[] = [];
  const verb = report.dryRun ? "would import" : "imported";
  const table = (name: string, counts: { read: number; imported: number; alreadyPresent: number; refused: number }, extra = "") =>
    lines.push(`${name}: ${counts.read} read, ${counts.imported} ${verb}, ${counts.alreadyPresent} already present, ${counts.refused} refused${extra}`);
  table("cost-center versions", report.costCenters);
  table("usage entries", report.usage);
  table("Stripe customers", report.stripeCustomers, `, ${report.stripeCustomers.olderSkipped} older customers not kept (Tally keeps the newest per attribution id)`);
  const refusals = report.refused;
  for (const row of report.notKept.slice(0, importListedMax)) lines.push(`  not kept: ${row.table} ${row.key}: ${row.reason}`);
  if (refusals.length > 0) {
    lines.push(`refused (${refusals.length}):`);
    for (const row of refusals.slice(0, importListedMax)) lines.push(`  ${row.table} ${row.key}: ${row.reason}`);
    if (refusals.length > importListedMax) lines.push(`  ... and ${refusals.length - importListedMax} more`);
  }
  const verification = report.verification;
  if (verification) {
    lines.push(
      `verification: ${verification.balancesMatching} of ${verification.attributions} balances equal SUM(creditCents) of d_b_usage; ` +
        `${verification.costCenters - verification.costCenterMismatches.length} of ${verification.costCenters} current cost centers match`,
    );
    for (const mismatch of verification.balanceMismatches.slice(0, importListedMax)) {
      lines.push(
        `  balance mismatch ${mismatch.attributionId}: Gitpod ${mismatch.gitpodCents} cents, Tally balance ${mismatch.tallyBalanceCents}, Tally ledger ${mismatch.tallyLedgerCents}`,
      );
    }
    for (const mismatch of verification.costCenterMismatches.slice(0, importListedMax)) {
      lines.push(`  cost center mismatch ${mismatch.attributionId}: Gitpod ${mismatch.gitpod}; Tally ${mismatch.tally}`);
    }
    const more = verification.balanceMismatches.length + verification.costCenterMismatches.length - 2 * importListedMax;
    if (more > 0) lines.push(`  ... and more mismatches`);
    const ok = verification.balanceMismatches.length === 0 && verification.costCenterMismatches.length === 0 && refusals.length === 0;
    lines.push(ok ? "verification passed" : "verification FAILED");
  }
  return lines.join("\n") + "\n";
}
