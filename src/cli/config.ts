// `tally config check`: validate a configuration (environment and TALLY_CONFIG file) without
// starting anything, and show what each key resolves to and where it came from.
import { Command } from "commander";
import { ConfigError } from "../config-error.js";
import { formatTable, write } from "./output.js";

/** Variables of the `tally` client, not of the server's configuration. */
const clientVariables = new Set(["TALLY_SERVER", "TALLY_TOKEN"]);

export function configCommand(): Command {
  const check = new Command("check")
    .description("validate the server's configuration (environment variables and the TALLY_CONFIG file) without starting it")
    .option("--config <file>", "check this JSON config file (instead of env TALLY_CONFIG)")
    .option("--json", "print the resolved keys as JSON")
    .action(async (options: { config?: string; json?: boolean }) => {
      // Loaded here, not at the top: other commands start faster without the schema.
      const { configKeys, inspectConfig, servingProblems } = await import("../config.js");
      const env = { ...process.env };
      if (options.config !== undefined) env.TALLY_CONFIG = options.config;
      const report = inspectConfig(env);
      // What would stop `tally serve` although every key is valid (access control without tokens).
      const problems = report.config ? servingProblems(report.config) : report.problems;
      if (problems.length > 0) {
        const [first, ...rest] = problems;
        throw new ConfigError(rest.length === 0 ? first! : `${problems.length} configuration problems:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
      }
      const known = new Set(Object.values(configKeys).map((key) => key.env));
      const strays = Object.keys(env).filter((name) => name.startsWith("TALLY_") && !known.has(name) && !clientVariables.has(name));
      for (const name of strays.sort()) process.stderr.write(`tally: note: ${name} is set but is not a configuration key (ignored)\n`);
      if (options.json) {
        const keys = report.entries.map((entry) => ({ env: entry.key.env, file: entry.key.file ?? null, value: entry.shown, source: entry.source }));
        await write(JSON.stringify({ valid: true, keys }) + "\n");
        return;
      }
      const rows = report.entries.map((entry) => [entry.key.env, entry.key.file ?? "", entry.shown, entry.source === "unset" ? "" : entry.source]);
      await write(formatTable(["variable", "file key", "value", "from"], rows) + "configuration is valid\n");
    });
  return new Command("config").description("inspect the server's configuration").addCommand(check);
}
