// `tally audit ls [ID]`: who changed what, newest first. The listing itself: audit-run.ts, loaded
// when the command runs (`tally --help` starts without protobuf and Connect).
import { Command } from "commander";
import { withServerOption, type ServerOptions } from "./remote.js";

export interface AuditLsOptions extends ServerOptions {
  limit: string;
  json?: boolean;
}

export function auditCommand(): Command {
  const ls = withServerOption(
    new Command("ls")
      .description("list audit entries (one per mutating call), newest first, of all attribution ids or of one")
      .argument("[attribution-id]", "only entries about this team:<uuid> or user:<uuid>")
      .option("--limit <n>", "at most this many entries (0: all)", "50")
      .option("--json", "write JSON Lines (one entry per line, details as an object)"),
  ).action(async (attributionId: string | undefined, options: AuditLsOptions) => {
    // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
    const { listAudit } = await import("./audit-run.js");
    await listAudit(attributionId, options);
  });
  return new Command("audit").description("the audit log of mutations").addCommand(ls);
}
