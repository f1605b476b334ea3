// `tally serve`: run the server until SIGTERM or SIGINT, then shut down gracefully.
import { Command } from "commander";
import { ConfigError } from "../config-error.js";
import { TallyError } from "../domain/tally-error.js";

/** How far past the grace the backstop waits, for close() to log and return on its own. */
const shutdownBackstopMarginMs = 2000;

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the Tally server (gRPC, gRPC-Web, Connect, webhooks, dashboard) on PORT")
    .option("-p, --port <port>", "port to listen on (env PORT, default 9001)")
    .option("--data-dir <dir>", "embedded database directory when DATABASE_URL is unset (env TALLY_DATA_DIR)")
    .option(
      "--local",
      "try Tally on this machine: without TALLY_API_TOKENS, run without access control (TALLY_AUTH=off) on 127.0.0.1 unless HOST is set (npm start)",
    )
    .action(async (options: { port?: string; dataDir?: string; local?: boolean }) => {
      const env = { ...process.env };
      if (options.local && !env.TALLY_API_TOKENS && !env.TALLY_AUTH && !env.TALLY_CONFIG) env.TALLY_AUTH = "off";
      if (options.port !== undefined) env.PORT = options.port;
      if (options.dataDir !== undefined) env.TALLY_DATA_DIR = options.dataDir;
      // Before the server's modules load: they are part of the start's burst of allocations.
      const { holdYoungGenerationDuringStart } = await import("../start-heap.js");
      const releaseYoungGeneration = holdYoungGenerationDuringStart();
      // Loaded here, not at the top: the other commands start faster without the server, the database
      // and the configuration schema.
      const { startTally } = await import("../app.js");
      const { loadConfig } = await import("../config.js");
      let tally;
      let shutdownGraceMs = 0;
      try {
        const config = loadConfig(env);
        shutdownGraceMs = config.shutdownGraceMs;
        tally = await startTally(config);
        releaseYoungGeneration();
      } catch (error) {
        if (error instanceof ConfigError || error instanceof TallyError) {
          process.stderr.write(`tally: ${error.message}\n`);
          process.exit(error instanceof ConfigError ? 2 : 1);
        }
        throw error;
      }
      const running = tally;
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        running.logger.info({ signal, shutdownGraceMs }, "shutting down");
        // close() keeps to the grace by itself; this backstop ends the process should anything in it
        // still wait (a bug must not turn into a process that a supervisor has to SIGKILL).
        setTimeout(() => {
          running.logger.error({ shutdownGraceMs }, "shutdown did not finish within its grace; exiting now");
          process.exit(1);
        }, shutdownGraceMs + shutdownBackstopMarginMs).unref();
        running.close().then(
          () => process.exit(0),
          (error: unknown) => {
            running.logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
}
