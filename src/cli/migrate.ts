// `tally migrate`: apply the database migrations and exit (serve also applies them at start).
import { Command } from "commander";
import { write } from "./output.js";

export function migrateCommand(): Command {
  return new Command("migrate")
    .description("apply database migrations to DATABASE_URL (or the embedded database in TALLY_DATA_DIR) and exit")
    .option("--data-dir <dir>", "embedded database directory when DATABASE_URL is unset (env TALLY_DATA_DIR)")
    .action(async (options: { dataDir?: string }) => {
      // Loaded here, not at the top: the other commands start faster without the database drivers.
      const { loadConfig } = await import("../config.js");
      const { openDatabase } = await import("../store/database.js");
      const env = { ...process.env };
      if (options.dataDir !== undefined) env.TALLY_DATA_DIR = options.dataDir;
      const config = loadConfig(env);
      const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
      await database.close();
      await write(`migrations applied: ${database.description}\n`);
    });
}
