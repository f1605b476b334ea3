#!/usr/bin/env node
// The `tally` command.
import { Command } from "commander";
import { serveCommand } from "./serve.js";
import { instancesCommand } from "./instances-import.js";

const program = new Command();
program
  .name("tally")
  .description("Tally: usage, credits and billing for cloud development environments")
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(instancesCommand());

await program.parseAsync(process.argv);
