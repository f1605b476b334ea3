// Tally as one running unit: database, services, server. Used by `tally serve` and by tests.
import os from "node:os";
import { buildBilling, type BillingModule } from "./billing/billing-module.js";
import type { Clock } from "./domain/clock.js";
import { systemClock } from "./system-clock.js";
import { settlesBy, withDeadline } from "./deadline.js";
import { httpAccessGuard } from "./access/http-access-guard.js";
import { TallyMetrics } from "./observability/metrics.js";
import { metricsRoute } from "./observability/metrics-route.js";
import { accessInterceptor } from "./rpc/access-interceptor.js";
import { auditInterceptor } from "./rpc/audit-interceptor.js";
import { metricsInterceptor } from "./rpc/metrics-interceptor.js";
import { ConfigError, servingProblems, type TallyConfig } from "./config.js";
import type { BillingService } from "./services/billing-service.js";
import { countLegacySubscriptions } from "./store/stripe-customers.js";
import { dashboardRoute } from "./dashboard/dashboard-route.js";
import { createLogger, type Logger } from "./logger.js";
import { file_usage_v1_workspace_instance, WorkspaceInstanceService as WorkspaceInstanceServiceDesc } from "./gen/usage/v1/workspace_instance_pb.js";
import { workspaceInstanceServiceImpl } from "./rpc/workspace-instance-service.js";
import { hostedService, startServer, type HostedService, type HttpRoute } from "./server.js";
import { file_usage_v1_report, ReportService as ReportServiceDesc } from "./gen/usage/v1/report_pb.js";
import { reportServiceImpl } from "./rpc/report-service.js";
import { AuditService as AuditServiceDesc, file_usage_v1_audit } from "./gen/usage/v1/audit_pb.js";
import { auditServiceImpl } from "./rpc/audit-service.js";
import { CostCenterService } from "./services/cost-center-service.js";
import { LedgerService } from "./services/ledger-service.js";
import { reconcilePageSizeMax, reconcileWriteSizeMax, UsageReconciler } from "./services/usage-reconciler.js";
import { WorkspaceInstanceService } from "./services/workspace-instance-service.js";
import { JobScheduler, type ScheduledJob } from "./jobs/job-scheduler.js";
import { ledgerJob } from "./jobs/ledger-job.js";
import { resetJob } from "./jobs/reset-job.js";
import { invoiceJob } from "./jobs/invoice-job.js";
import { idempotencyKeyJob } from "./jobs/idempotency-key-job.js";
import { ReportService } from "./services/report-service.js";
import { BalanceReader } from "./store/balance-reader.js";
import { buildEvents, type EventsModule } from "./events/events-module.js";
import { GitpodFreeCredits } from "./gitpod/free-credits.js";
import { GitpodDisputeBlocker } from "./gitpod/dispute-blocks.js";
import { gitpodBlocksJob } from "./jobs/gitpod-blocks-job.js";
import type { NewTeamLimit } from "./services/cost-center-service.js";
import { openDatabase, pingDatabase, type Database, type DatabaseHandle } from "./store/database.js";
import { gitpodReadiness, openGitpodMode, type GitpodMode } from "./gitpod/gitpod-mode.js";

/** Health and readiness reuse one database ping for this long. */
export const healthPingIntervalMs = 1000;
/** A database ping not answered within this is a failed one: /readyz says 503 instead of hanging. */
export const healthPingTimeoutMs = 2000;
/** A ping still unanswered after this is abandoned and a new one sent (the database may be back). */
const healthPingRetryMs = 5000;
/** Of the shutdown grace, this much is kept for closing the database after requests and jobs. */
const databaseCloseReserveMs = 1000;

export interface Tally {
  readonly port: number;
  readonly url: string;
  readonly database: DatabaseHandle;
  readonly costCenters: CostCenterService;
  readonly ledger: LedgerService;
  readonly instances: WorkspaceInstanceService;
  readonly reconciler: UsageReconciler;
  /** Scheduled jobs; started only when `jobsEnabled`, but tests may run them with `runOnce`. */
  readonly jobs: JobScheduler;
  readonly billing: BillingModule;
  /** Outbound account events: the recorder, the dispatcher, EventService. */
  readonly events: EventsModule;
  readonly logger: Logger;
  /** Prometheus metrics; jobs and the webhook inbox feed it (see observability/metrics.ts). */
  readonly metrics: TallyMetrics;
  /** Gitpod mode (TALLY_GITPOD_DATABASE_URL): the read-only pool on Gitpod's database and the instance source. */
  readonly gitpod: GitpodMode | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/**
 * Billing without serving (for `tally stripe sync`): the database, the services and the Stripe
 * adapter, no server, jobs or workers. Account events recorded go to the outbox, for the server.
 */
export async function buildOfflineBilling(
  config: TallyConfig,
  options: StartOptions = {},
): Promise<{ billing: BillingService; close(): Promise<void> }> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeouts: config.databaseTimeouts });
  const events = buildEvents({ config, db: database.db, clock, logger });
  const usage = buildUsage(config, database, clock, events, undefined, undefined);
  const billing = buildBilling({ config, db: database.db, clock, logger, costCenters: usage.costCenters, balances: usage.balances, events: events.recorder });
  if (!billing.billing) {
    await database.close();
    throw new ConfigError("billing is not configured: set STRIPE_SECRET_KEY");
  }
  return { billing: billing.billing, close: () => database.close() };
}

export async function startTally(config: TallyConfig, options: StartOptions = {}): Promise<Tally> {
  const problems = servingProblems(config);
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    timeouts: config.databaseTimeouts,
    onConnectionError: (error) => logger.warn({ err: error }, "a database connection failed: %s", error.message),
  });
  let closing = false;
  let gitpod: GitpodMode | undefined;
  try {
    const db = database.db;
    gitpod = config.gitpodDatabaseUrl
      ? openGitpodMode({
          url: config.gitpodDatabaseUrl,
          db,
          logger,
          connectTimeoutMs: config.databaseConnectTimeoutMs,
          queryTimeoutMs: config.databaseQueryTimeoutMs,
        })
      : undefined;
    const events = buildEvents({ config, db, clock, logger });
    // Gitpod mode: a new organization's limit follows the first-organization free-credit rule.
    const gitpodDatabase = gitpod?.database;
    const newTeamLimit = gitpodDatabase ? new GitpodFreeCredits({ gitpod: gitpodDatabase, defaults: config.defaultSpendingLimit, logger }) : undefined;
    const usage = buildUsage(config, database, clock, events, gitpod, newTeamLimit);
    const metrics = new TallyMetrics(clock, logger);
    // Gitpod mode with TALLY_GITPOD_SERVER_URL: a charge dispute also blocks the organization's owners in Gitpod.
    const gitpodBlocker =
      gitpodDatabase && config.gitpodServerUrl
        ? new GitpodDisputeBlocker({
            db,
            gitpod: gitpodDatabase,
            serverUrl: config.gitpodServerUrl,
            clock,
            logger,
            onFailure: (step) => metrics.recordGitpodBlockFailure(step),
          })
        : undefined;
    const billing = buildBilling({
      config,
      db,
      clock,
      logger,
      costCenters: usage.costCenters,
      balances: usage.balances,
      events: events.recorder,
      metrics,
      ...(gitpodBlocker ? { onDisputed: (disputeId: string, attributionId: string) => gitpodBlocker.onDispute(disputeId, attributionId) } : {}),
    });
    const jobs = buildJobs(config, database, clock, logger, usage, billing, metrics, gitpodBlocker);
    if (gitpodBlocker) {
      metrics.onScrape("gitpod-blocks", async () => {
        const backlog = await gitpodBlocker.backlog();
        metrics.setGitpodBlocksPending(backlog.pendingUsers, backlog.pendingDisputes);
      });
    }
    feedMetrics(metrics, jobs, billing);
    metrics.onScrape("event-deliveries", async () => {
      const backlog = await events.backlog();
      metrics.setEventDeliveryBacklog(backlog.pending, backlog.failed, backlog.oldestPendingAt);
    });
    if (gitpod) {
      const mode = gitpod;
      metrics.onScrape("gitpod", async () => metrics.setGitpodDatabaseUp((await mode.reachable()).reachable));
      logger.info({ gitpod: mode.database.description }, "Gitpod mode: the ledger also reads workspace instances from Gitpod's database");
    }
    const gitpodMode = gitpod;
    const databaseReachable = cachedDatabasePing(db);
    const front = await startServer(
      {
        logger,
        usage: {
          costCenters: usage.costCenters,
          ledger: usage.ledger,
          ledgerIntervalMs: config.ledgerIntervalMs,
          reconcileUsage: (from, to) => usage.reconciler.reconcile(from, to),
        },
        isServing: async () => !closing && (await databaseReachable()),
        ...(gitpodMode ? { readinessDetail: () => gitpodReadiness(gitpodMode, jobs) } : {}),
        ...buildEdge(config, db, clock, logger, metrics, billing),
        requestBytesMax: config.httpRequestBytesMax,
        services: [...buildServices(config, db, clock, usage.instances, billing), events.hosted],
      },
      config.port,
      config.listenHost,
      { limits: config.httpLimits, onRefused: (reason) => metrics.recordHttpRefused(reason) },
    );
    metrics.watchHttpFront(() => front.stats());
    const host = config.listenHost;
    const url = `http://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host}:${front.port}`;
    billing.start();
    await events.start();
    logger.info({ url, database: database.description, accessControl: config.apiTokens ? "tokens" : "off" }, "tally is serving");
    if (config.jobsEnabled) jobs.start();
    return {
      port: front.port,
      url,
      database,
      ...usage,
      jobs,
      billing,
      events,
      logger,
      metrics,
      gitpod,
      /**
       * Stops accepting work, lets requests and jobs in progress finish, and closes the database,
       * all within the shutdown grace whatever the database does: work still waiting on it at the
       * end has its connections cut (and is answered UNAVAILABLE, or not at all).
       */
      async close() {
        if (closing) return;
        closing = true;
        const deadlineMs = performance.now() + config.shutdownGraceMs;
        const workDeadlineMs = deadlineMs - Math.min(databaseCloseReserveMs, config.shutdownGraceMs / 4);
        const frontClosed = front.close(config.shutdownGraceMs);
        const stopped = await Promise.all([
          settlesBy(frontClosed, workDeadlineMs),
          settlesBy(jobs.stop(), workDeadlineMs),
          settlesBy(billing.close(), workDeadlineMs),
          settlesBy(events.close(), workDeadlineMs),
        ]);
        if (!stopped.every(Boolean)) logger.warn("shutdown: requests or jobs still wait on the database; cutting its connections");
        // Requests still waiting on the database now fail (UNAVAILABLE) and are answered before the
        // front cuts their connections at the deadline.
        await database.close(workDeadlineMs);
        await settlesBy(gitpodMode?.close() ?? Promise.resolve(), deadlineMs);
        await settlesBy(frontClosed, deadlineMs);
        logger.info("tally stopped");
      },
    };
  } catch (error) {
    await gitpod?.close();
    await database.close(performance.now() + config.shutdownGraceMs);
    throw error;
  }
}

type UsageServices = Pick<Tally, "costCenters" | "ledger" | "instances" | "reconciler"> & {
  /** The one batching reader of balances (GetBalance, GetAccountStatus). */
  readonly balances: BalanceReader;
};

/** The use cases of cost centers, the ledger, instances and reconciliation. */
function buildUsage(
  config: TallyConfig,
  database: DatabaseHandle,
  clock: Clock,
  eventsModule: EventsModule,
  gitpod: GitpodMode | undefined,
  newTeamLimit: NewTeamLimit | undefined,
): UsageServices {
  const db = database.db;
  const balances = new BalanceReader(db);
  const events = eventsModule.recorder;
  return {
    balances,
    costCenters: new CostCenterService({
      db,
      clock,
      defaultSpendingLimit: config.defaultSpendingLimit,
      stripeEnabled: config.stripe !== undefined,
      events,
      // Gitpod mode: a new organization's limit follows the first-organization free-credit rule.
      ...(newTeamLimit ? { newTeamLimit } : {}),
    }),
    ledger: new LedgerService({ db, clock, balances, events }),
    instances: new WorkspaceInstanceService({ db, clock }),
    // Two writes in flight while the next page is read, where the database runs transactions side by side.
    reconciler: new UsageReconciler({
      db,
      clock,
      prices: config.priceTable,
      writesInFlight: Math.min(2, database.concurrentTransactionsMax),
      // Pages gathered into writes of 4,000 entries on PostgreSQL. PGlite keeps one page a write: it
      // is 9 % faster with 4,000, but a statement of 4,000 entries grows its WASM memory, which never
      // shrinks, by about 65 MB (bench:scale at 100k: server RSS 343 MB instead of 276 MB).
      writeSize: database.concurrentTransactionsMax > 1 ? reconcileWriteSizeMax : reconcilePageSizeMax,
      events,
      // Gitpod mode: the instances of Gitpod's database are stored before each run, then booked alike.
      ...(gitpod ? { source: gitpod.source } : {}),
    }),
  };
}

/** The scheduled jobs: ledger and reset always, invoices when Stripe is on. */
function buildJobs(
  config: TallyConfig,
  database: DatabaseHandle,
  clock: Clock,
  logger: Logger,
  usage: UsageServices,
  billing: BillingModule,
  metrics: TallyMetrics,
  gitpodBlocker: GitpodDisputeBlocker | undefined,
): JobScheduler {
  const scheduledJobs: ScheduledJob[] = [
    ledgerJob(usage.reconciler, config.ledgerIntervalMs),
    resetJob(usage.costCenters, config.resetIntervalMs),
    idempotencyKeyJob(database.db, config.idempotencyKeyRetentionMs),
    ...(billing.billing ? [invoiceJob(billing.billing, config.invoiceIntervalMs)] : []),
    ...(gitpodBlocker ? [gitpodBlocksJob(gitpodBlocker)] : []),
  ];
  return new JobScheduler({
    database,
    clock,
    logger,
    replica: `${os.hostname()}:${process.pid}`,
    jobs: scheduledJobs,
    onRunFinished: (job, run) =>
      metrics.recordJobRun(job, { outcome: run.ok ? "success" : "failure", durationMs: run.durationMs, finishedAt: run.finishedAt }),
  });
}

/** Prometheus metrics, fed at scrape time by the jobs' status and the webhook inbox. */
/** Job and inbox gauges come from the database at scrape time, so every replica shows them. */
function feedMetrics(metrics: TallyMetrics, jobs: JobScheduler, billing: BillingModule): void {
  metrics.onScrape("jobs", async () => {
    for (const status of await jobs.status()) {
      if (!status.lastSuccessAt) continue;
      metrics.setJobStatus(status.name, status.lastSuccessAt, status.lastDurationMs ?? 0);
      // The ledger's last successful run booked everything up to its start.
      if (status.name === "ledger") metrics.setLedgerBookedUntil(status.lastSuccessAt);
    }
  });
  if (billing.billing) {
    metrics.onScrape("stripe-legacy-prices", async () => metrics.setStripeLegacyPriceSubscriptions(await countLegacySubscriptions(billing.db)));
  }
  metrics.onScrape("webhook-inbox", async () => {
    const backlog = await billing.inboxBacklog();
    metrics.setWebhookInboxBacklog(backlog.pending + backlog.failed, backlog.oldestReceivedAt);
  });
}

/**
 * Health probes may come many times a second from several checkers; one ping a second is enough.
 * A ping not answered within healthPingTimeoutMs counts as failed: a stalled database turns /readyz
 * to 503 instead of hanging it. A new ping starts only once the last one is answered or is older
 * than healthPingRetryMs, so pings cannot pile up on a stalled database and take the whole pool.
 */
function cachedDatabasePing(db: Database): () => Promise<boolean> {
  let last: { atMs: number; ok: boolean } | undefined;
  let inFlight: { startedMs: number; ok: Promise<boolean> } | undefined;
  return async () => {
    const nowMs = performance.now();
    if (last && nowMs - last.atMs <= healthPingIntervalMs) return last.ok;
    if (!inFlight || nowMs - inFlight.startedMs > healthPingRetryMs) {
      const ping = { startedMs: nowMs, ok: pingDatabase(db).then(() => true, () => false) };
      inFlight = ping;
      void ping.ok.then((ok) => {
        last = { atMs: performance.now(), ok };
        if (inFlight === ping) inFlight = undefined;
      });
    }
    const remainingMs = inFlight.startedMs + healthPingTimeoutMs - nowMs;
    if (remainingMs <= 0) return false;
    return withDeadline(inFlight.ok, remainingMs, () => new Error("database ping timed out")).catch(() => false);
  };
}

/** What every request passes on its way in: plain HTTP routes and RPC interceptors. */
function buildEdge(config: TallyConfig, db: Database, clock: Clock, logger: Logger, metrics: TallyMetrics, billing: BillingModule) {
  // The access guard stays first: it refuses plain HTTP requests that need a token (see access/http-access.ts).
  // The admin dashboard answers only its own paths, so its place after the guard is free.
  const httpRoutes: HttpRoute[] = [httpAccessGuard(config.apiTokens), metricsRoute(metrics), ...billing.httpRoutes, dashboardRoute({ logger })];
  // Outermost first: metrics see every outcome, the audit sees who was refused, access runs last.
  const interceptors = [metricsInterceptor(metrics), auditInterceptor({ db, clock, logger, metrics }), accessInterceptor(config.apiTokens)];
  if (!config.apiTokens) {
    const where = config.host === undefined ? `listening on ${config.listenHost} only (set HOST to listen elsewhere)` : `listening on ${config.listenHost} (HOST)`;
    logger.warn({ host: config.listenHost }, `access control is off (TALLY_AUTH=off): every caller may read and change everything; ${where}`);
  }
  return { httpRoutes, interceptors };
}

/** The RPC services beside UsageService (which the server always hosts). */
function buildServices(config: TallyConfig, db: Database, clock: Clock, instances: WorkspaceInstanceService, billing: BillingModule): HostedService[] {
  return [
    hostedService(WorkspaceInstanceServiceDesc, workspaceInstanceServiceImpl(instances), file_usage_v1_workspace_instance),
    hostedService(ReportServiceDesc, reportServiceImpl({
        reports: new ReportService({
          db,
          clock,
          defaultSpendingLimit: config.defaultSpendingLimit,
          limitWarningPercent: config.limitWarningPercent,
        }),
      }), file_usage_v1_report),
    hostedService(AuditServiceDesc, auditServiceImpl({ db }), file_usage_v1_audit),
    ...billing.services,
  ];
}
