#!/usr/bin/env node
// The `tally` command.
import { Command } from "commander";
import { serveCommand } from "./serve.js";

const program = new Command();
program
  .name("tally")
  .description("Tally: usage, credits and billing for cloud development environments")
  .showHelpAfterError();

program.addCommand(serveCommand());

await program.parseAsync(process.argv);
