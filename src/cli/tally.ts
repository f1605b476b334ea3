#!/usr/bin/env node
// The `tally` command. Each command group lives in its own file; commands that talk to a server take
// --server (env TALLY_SERVER) and the token from TALLY_TOKEN. Exit codes: see cli/remote.ts.
// Registering the commands must stay cheap (`tally --help` starts in well under 150 ms compiled): a
// command's file imports only commander and light helpers at its top, and loads what it needs to run
// (protobuf, Connect, the database, the configuration schema) in its action, with `await import(...)`
// (often from a <command>-run.ts beside it). test/cli-start.test.ts fails otherwise. Compiled, cli/ is
// one bundle with commander inside (scripts/bundle-cli.mjs), so --help reads a handful of files.
import fs from "node:fs";
import { Command } from "commander";
import { accountCommand } from "./account.js";
import { auditCommand } from "./audit.js";
import { balanceCommand } from "./balance.js";
import { configCommand } from "./config.js";
import { costCenterCommand } from "./cost-center.js";
import { creditCommand } from "./credit.js";
import { endpointsCommand } from "./endpoints.js";
import { eventsCommand } from "./events.js";
import { migrateCommand } from "./migrate.js";
import { reconcileCommand } from "./reconcile.js";
import { reportError } from "./remote.js";
import { resetCommand } from "./reset.js";
import { serveCommand } from "./serve.js";
import { stripeCommand } from "./stripe.js";
import { instancesCommand } from "./instances.js";
import { importCommand } from "./import-gitpod.js";
import { usageCommand } from "./usage.js";

/** From package.json, two levels up both from src/cli/tally.ts and from dist/cli/tally.js. */
const { version } = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const program = new Command();
program
  .name("tally")
  .description("Tally: usage, credits and billing for cloud development environments")
  .version(version, "-V, --version", "print the version of tally")
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(migrateCommand());
program.addCommand(balanceCommand());
program.addCommand(usageCommand());
program.addCommand(creditCommand());
program.addCommand(costCenterCommand());
program.addCommand(resetCommand());
program.addCommand(reconcileCommand());
program.addCommand(stripeCommand());
program.addCommand(auditCommand());
program.addCommand(instancesCommand());
program.addCommand(accountCommand());
program.addCommand(configCommand());
program.addCommand(endpointsCommand());
program.addCommand(eventsCommand());
program.addCommand(importCommand());
// More command groups register here, one line each.

/**
 * Parse errors throw instead of exiting, so that every failure leaves through reportError; the ones
 * commander prints itself ("error: unknown option") take the one format of every error, "tally: ...".
 */
function throwOnCommanderExit(command: Command): void {
  command.exitOverride();
  command.configureOutput({ outputError: (text, write) => write(`tally: ${text.replace(/^error: /, "")}`) });
  for (const sub of command.commands) throwOnCommanderExit(sub);
}
throwOnCommanderExit(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = await reportError(error);
}
