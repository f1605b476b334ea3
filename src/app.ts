// Tally as one running unit: database, services, server. Used by `tally serve` and by tests.
import type { Clock } from "./domain/clock.js";
import { systemClock } from "./system-clock.js";
import type { TallyConfig } from "./config.js";
import { dashboardRoute } from "./dashboard/dashboard-route.js";
import { createLogger, type Logger } from "./logger.js";
import { startServer, type HttpRoute } from "./server.js";
import { CostCenterService } from "./services/cost-center-service.js";
import { LedgerService } from "./services/ledger-service.js";
import { ReportService } from "./services/report-service.js";
import { openDatabase, pingDatabase, type DatabaseHandle } from "./store/database.js";

/** In-flight requests get this long to finish on shutdown. */
export const shutdownGraceMs = 10_000;

export interface Tally {
  readonly port: number;
  readonly url: string;
  readonly database: DatabaseHandle;
  readonly costCenters: CostCenterService;
  readonly ledger: LedgerService;
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export async function startTally(config: TallyConfig, options: StartOptions = {}): Promise<Tally> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  let closing = false;
  try {
    const db = database.db;
    const costCenters = new CostCenterService({
      db,
      clock,
      defaultSpendingLimit: config.defaultSpendingLimit,
      stripeEnabled: config.stripe !== undefined,
    });
    const ledger = new LedgerService({ db, clock });
    const routes: HttpRoute[] = [];
    // The admin dashboard at "/"; it answers only its own paths, so its place in the list is free.
    routes.push(dashboardRoute({ logger }));
    const front = await startServer(
      {
        logger,
        usage: { costCenters, ledger, ledgerIntervalMs: config.ledgerIntervalMs },
        reports: { reports: new ReportService({ db, clock }) },
        isServing: async () => {
          if (closing) return false;
          return pingDatabase(db).then(
            () => true,
            () => false,
          );
        },
        httpRoutes: routes,
      },
      config.port,
      config.host,
    );
    const url = `http://${config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host}:${front.port}`;
    logger.info({ url, database: database.description }, "tally is serving");
    return {
      port: front.port,
      url,
      database,
      costCenters,
      ledger,
      logger,
      async close() {
        if (closing) return;
        closing = true;
        await front.close(shutdownGraceMs);
        await database.close();
        logger.info("tally stopped");
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
