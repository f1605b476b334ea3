// Tally as one running unit: database, services, server. Used by `tally serve` and by tests.
import type { Clock } from "./domain/clock.js";
import { systemClock } from "./system-clock.js";
import { httpAccessGuard } from "./access/http-access-guard.js";
import { TallyMetrics } from "./observability/metrics.js";
import { metricsRoute } from "./observability/metrics-route.js";
import { accessInterceptor } from "./rpc/access-interceptor.js";
import { auditInterceptor } from "./rpc/audit-interceptor.js";
import { metricsInterceptor } from "./rpc/metrics-interceptor.js";
import type { TallyConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { startServer, type HttpRoute } from "./server.js";
import { CostCenterService } from "./services/cost-center-service.js";
import { LedgerService } from "./services/ledger-service.js";
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
  /** Prometheus metrics; jobs and the webhook inbox feed it (see observability/metrics.ts). */
  readonly metrics: TallyMetrics;
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
    const metrics = new TallyMetrics(clock, logger);
    // The access guard stays first: it refuses plain HTTP requests that need a token (see access/http-access.ts).
    const routes: HttpRoute[] = [httpAccessGuard(config.apiTokens), metricsRoute(metrics)];
    // Outermost first: metrics see every outcome, the audit sees who was refused, access runs last.
    const interceptors = [metricsInterceptor(metrics), auditInterceptor({ db, clock, logger, metrics }), accessInterceptor(config.apiTokens)];
    if (!config.apiTokens) logger.warn("access control is off: TALLY_API_TOKENS is not set, every caller may read and change everything");
    const front = await startServer(
      {
        logger,
        usage: { costCenters, ledger, ledgerIntervalMs: config.ledgerIntervalMs },
        audit: { db },
        isServing: async () => {
          if (closing) return false;
          return pingDatabase(db).then(
            () => true,
            () => false,
          );
        },
        httpRoutes: routes,
        interceptors,
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
      metrics,
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
