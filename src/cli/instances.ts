// `tally instances import FILE`: streams a JSON Lines file of workspace instances to a running
// server. The import itself: instances-import.ts, loaded when the command runs.
import { Command } from "commander";
import { withServerOption } from "./remote.js";

export function instancesCommand(): Command {
  const instances = new Command("instances").description("workspace instances, the source of usage");
  const importCommand = instances
    .command("import <file>")
    .description(
      "import workspace instances from a JSON Lines file (one instance per line, field names as in " +
        "usage.v1.WorkspaceInstance, times as RFC 3339) into a running server, in batches of 1000",
    )
    .option("--no-progress", "no progress bar")
    .action(async (file: string, options: { server?: string; progress: boolean }) => {
      // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
      const { importFromCommandLine } = await import("./instances-import.js");
      await importFromCommandLine(file, options);
    });
  withServerOption(importCommand);
  return instances;
}
