// Prometheus metrics of one Tally process (prom-client), served at GET /metrics.
//
// One registry per Tally instance (tests run several servers in one process). Other parts of Tally
// feed it through the methods below:
// - RPCs: the interceptor in rpc/metrics-interceptor.ts calls `observeRpc`.
// - Jobs: after each run, `recordJobRun(name, ...)`; or, to report what the database knows (so every
//   replica shows the job, not only the one that ran it), `onScrape` a callback that calls
//   `setJobStatus` from the stored last success.
// - Ledger lag: `setLedgerBookedUntil(time)` with the end of the window the ledger job last booked.
// - Webhook inbox: `onScrape` a callback that calls `setWebhookInboxBacklog(count, oldestReceivedAt)`.
// - Account-event deliveries: `onScrape` a callback that calls `setEventDeliveryBacklog(...)`.
// - Gitpod mode: `onScrape` a callback that calls `setGitpodDatabaseUp(reachable)`.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Clock } from "../domain/clock.js";
import type { Logger } from "../logger.js";

/** Seconds; from a fast balance read (sub-millisecond) to a slow batch or Stripe call. */
const rpcDurationBucketsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A scrape callback that takes longer is abandoned; Prometheus' own scrape timeout is usually 10s. */
export const scrapeCallbackTimeoutMs = 3000;

export type JobOutcome = "success" | "failure";
export type ScrapeCallback = () => Promise<void> | void;

export class TallyMetrics {
  readonly registry = new Registry();
  private readonly scrapeCallbacks = new Map<string, ScrapeCallback>();
  private ledgerBookedUntil: Date | undefined;

  private readonly rpcDuration = new Histogram({
    name: "tally_rpc_duration_seconds",
    help: "Duration of RPCs until the response (or its headers, for streams), by service, method and gRPC code",
    labelNames: ["service", "method", "code"] as const,
    buckets: rpcDurationBucketsSeconds,
    registers: [this.registry],
  });
  private readonly rpcErrors = new Counter({
    name: "tally_rpc_errors_total",
    help: "RPCs that ended with a gRPC code other than OK, by service, method and code",
    labelNames: ["service", "method", "code"] as const,
    registers: [this.registry],
  });
  private readonly jobLastSuccess = new Gauge({
    name: "tally_job_last_success_timestamp_seconds",
    help: "Unix time of the end of the job's last successful run",
    labelNames: ["job"] as const,
    registers: [this.registry],
  });
  private readonly jobLastDuration = new Gauge({
    name: "tally_job_last_duration_seconds",
    help: "Duration of the job's last successful run",
    labelNames: ["job"] as const,
    registers: [this.registry],
  });
  private readonly jobRuns = new Counter({
    name: "tally_job_runs_total",
    help: "Job runs on this replica, by job and outcome",
    labelNames: ["job", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly webhookInboxBacklog = new Gauge({
    name: "tally_webhook_inbox_backlog",
    help: "Webhook events received and not yet processed",
    registers: [this.registry],
  });
  private readonly webhookInboxOldestAge = new Gauge({
    name: "tally_webhook_inbox_oldest_age_seconds",
    help: "Age of the oldest unprocessed webhook event (0 when the inbox is empty)",
    registers: [this.registry],
  });
  private readonly eventDeliveriesPending = new Gauge({
    name: "tally_event_deliveries_pending",
    help: "Account-event deliveries (webhooks) not yet acknowledged by their endpoint",
    registers: [this.registry],
  });
  private readonly eventDeliveriesFailed = new Gauge({
    name: "tally_event_deliveries_failed",
    help: "Account-event deliveries given up after too many attempts (redeliver them)",
    registers: [this.registry],
  });
  private readonly eventDeliveriesOldestAge = new Gauge({
    name: "tally_event_deliveries_oldest_age_seconds",
    help: "Age of the oldest event with a pending delivery (0 when none is pending)",
    registers: [this.registry],
  });
  private readonly scrapeErrors = new Counter({
    name: "tally_metrics_scrape_callback_errors_total",
    help: "Scrape callbacks that failed or timed out, by callback name",
    labelNames: ["callback"] as const,
    registers: [this.registry],
  });
  /** Registered on first use (Gitpod mode only): a standalone Tally does not show it. */
  private gitpodDatabaseUp: Gauge | undefined;
  private readonly stripeErrors = new Counter({
    name: "tally_stripe_errors_total",
    help: "Failed Stripe calls by kind (unrecognized_url: a wrong STRIPE_API_BASE; resource_missing is not counted)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  private readonly httpRefused = new Counter({
    name: "tally_http_refused_total",
    help: "Connections and streams refused or cut to bound what one peer holds, by reason (see TALLY_HTTP_* keys)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  private readonly stripeLegacyPriceSubscriptions = new Gauge({
    name: "tally_stripe_legacy_price_subscriptions",
    help: "Customers with a live subscription on a usage price without a billing meter: their usage cannot be reported (tally stripe migrate-prices)",
    registers: [this.registry],
  });
  private readonly gitpodBlocksPending = new Gauge({
    name: "tally_gitpod_user_blocks_pending",
    help: "Charge disputes in Gitpod mode: owners not blocked in Gitpod yet (users), disputes whose owners are not looked up yet (disputes)",
    labelNames: ["what"] as const,
    registers: [this.registry],
  });
  private readonly gitpodBlockFailures = new Counter({
    name: "tally_gitpod_block_failures_total",
    help: "Failed attempts to block dispute owners in Gitpod (step: owners lookup or block_user), each retried",
    labelNames: ["step"] as const,
    registers: [this.registry],
  });
  readonly auditWriteFailures = new Counter({
    name: "tally_audit_write_failures_total",
    help: "Mutations whose audit row could not be written (the mutation itself was not undone)",
    registers: [this.registry],
  });

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    options: { processMetrics?: boolean } = {},
  ) {
    const metrics = this;
    new Gauge({
      name: "tally_ledger_lag_seconds",
      help: "Seconds between now and the end of the window the ledger job last booked",
      registers: [this.registry],
      collect() {
        if (metrics.ledgerBookedUntil) this.set(Math.max(0, (metrics.clock.now().getTime() - metrics.ledgerBookedUntil.getTime()) / 1000));
      },
    });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** One finished RPC; `code` is the gRPC code name ("OK", "INVALID_ARGUMENT", ...). */
  observeRpc(service: string, method: string, code: string, durationSeconds: number): void {
    this.rpcDuration.observe({ service, method, code }, durationSeconds);
    if (code !== "OK") this.rpcErrors.inc({ service, method, code });
  }

  /** One connection or stream refused or cut by the HTTP front (see http-front.ts). */
  recordHttpRefused(reason: string): void {
    this.httpRefused.inc({ reason });
  }

  /** Reports the HTTP front's open connections and streams at each scrape. */
  watchHttpFront(stats: () => { connections: { http1: number; http2: number; undecided: number }; streams: number; throttledConnections: number }): void {
    new Gauge({
      name: "tally_http_connections",
      help: "Open connections, by protocol (undecided: no bytes yet)",
      labelNames: ["protocol"] as const,
      registers: [this.registry],
      collect() {
        const { connections } = stats();
        this.set({ protocol: "http1" }, connections.http1);
        this.set({ protocol: "http2" }, connections.http2);
        this.set({ protocol: "undecided" }, connections.undecided);
      },
    });
    new Gauge({
      name: "tally_http_streams",
      help: "HTTP/2 streams and HTTP/1.1 requests in progress",
      registers: [this.registry],
      collect() {
        this.set(stats().streams);
      },
    });
    new Gauge({
      name: "tally_http_connections_throttled",
      help: "HTTP/2 connections held (SETTINGS) to the streams they have while all TALLY_HTTP_MAX_STREAMS are taken",
      registers: [this.registry],
      collect() {
        this.set(stats().throttledConnections);
      },
    });
  }

  /** Charge disputes in Gitpod mode: blocks not through yet. */
  setGitpodBlocksPending(users: number, disputes: number): void {
    this.gitpodBlocksPending.set({ what: "users" }, users);
    this.gitpodBlocksPending.set({ what: "disputes" }, disputes);
  }

  recordGitpodBlockFailure(step: string): void {
    this.gitpodBlockFailures.inc({ step });
  }

  /** One failed Stripe call (see StripeErrorKind). */
  recordStripeError(kind: string): void {
    this.stripeErrors.inc({ kind });
  }

  setStripeLegacyPriceSubscriptions(count: number): void {
    this.stripeLegacyPriceSubscriptions.set(count);
  }

  /** One run of a job on this replica. A success also sets the job's status. */
  recordJobRun(job: string, run: { outcome: JobOutcome; durationMs: number; finishedAt: Date }): void {
    this.jobRuns.inc({ job, outcome: run.outcome });
    if (run.outcome === "success") this.setJobStatus(job, run.finishedAt, run.durationMs);
  }

  /** The job's last success, e.g. read from the database by a scrape callback. */
  setJobStatus(job: string, lastSuccessTime: Date, durationMs: number): void {
    this.jobLastSuccess.set({ job }, lastSuccessTime.getTime() / 1000);
    this.jobLastDuration.set({ job }, durationMs / 1000);
  }

  /** End of the window the ledger job last booked; the lag gauge is now minus this. */
  setGitpodDatabaseUp(up: boolean): void {
    this.gitpodDatabaseUp ??= new Gauge({
      name: "tally_gitpod_database_up",
      help: "1 when Gitpod's database (TALLY_GITPOD_DATABASE_URL) answered the last ping, else 0; absent in standalone mode",
      registers: [this.registry],
    });
    this.gitpodDatabaseUp.set(up ? 1 : 0);
  }

  setLedgerBookedUntil(time: Date): void {
    this.ledgerBookedUntil = time;
  }

  setWebhookInboxBacklog(count: number, oldestReceivedAt: Date | undefined): void {
    this.webhookInboxBacklog.set(count);
    const ageMs = oldestReceivedAt ? this.clock.now().getTime() - oldestReceivedAt.getTime() : 0;
    this.webhookInboxOldestAge.set(Math.max(0, ageMs / 1000));
  }

  setEventDeliveryBacklog(pending: number, failed: number, oldestPendingAt: Date | undefined): void {
    this.eventDeliveriesPending.set(pending);
    this.eventDeliveriesFailed.set(failed);
    const ageMs = oldestPendingAt ? this.clock.now().getTime() - oldestPendingAt.getTime() : 0;
    this.eventDeliveriesOldestAge.set(Math.max(0, ageMs / 1000));
  }

  /** Runs before every scrape (e.g. to read a backlog from the database). Replaces one of the same name. */
  onScrape(name: string, callback: ScrapeCallback): void {
    this.scrapeCallbacks.set(name, callback);
  }

  /** The exposition text; scrape callbacks run first, each bounded in time, failures counted. */
  async render(): Promise<{ contentType: string; body: string }> {
    await Promise.all([...this.scrapeCallbacks].map(([name, callback]) => this.runScrapeCallback(name, callback)));
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private async runScrapeCallback(name: string, callback: ScrapeCallback): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${scrapeCallbackTimeoutMs} ms`)), scrapeCallbackTimeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(callback), timeout]);
    } catch (error) {
      this.scrapeErrors.inc({ callback: name });
      this.logger.warn({ err: error, callback: name }, "metrics scrape callback failed");
    } finally {
      clearTimeout(timer);
    }
  }
}
