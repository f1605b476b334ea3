// Configuration: every key in one table (`configKeys`), each with its environment variable, its key
// in the optional JSON file (TALLY_CONFIG), its kind of value (a zod schema), default and meaning.
// Environment variables win over the file; an empty variable counts as unset. Every key is checked
// at start and every problem is reported, naming the key; the README's table is generated from here
// (`npm run docs:config`, checked by test/config-table.test.ts).
//
// Adding a key: one entry in `configKeys` (the value appears typed as `config.<name>`), then
// `npm run docs:config`.
import fs from "node:fs";
import { z } from "zod";
import { ConfigError } from "./config-error.js";
import { apiTokens, duration, integer, json, numberMap, onOff, oneOf, ruled, text, url, wholeMessage, type ValueKind } from "./config-values.js";
import { parseEventTypes } from "./domain/account-event.js";
import { spendingLimitCreditsMax, type DefaultSpendingLimits } from "./domain/cost-center.js";
import {
  configEndpointIdPattern,
  endpointsMax,
  parseEndpointDescription,
  parseEndpointSecret,
  parseEndpointUrl,
  type ConfiguredEndpoint,
} from "./domain/event-endpoint.js";
import { limitWarningPercentDefault, validateWarningPercent } from "./domain/limit-threshold.js";
import { buildPriceTable, type PriceTable } from "./domain/pricing.js";
import type { DatabaseTimeouts } from "./store/database.js";
import type { HttpLimits } from "./http-front.js";

export { ConfigError };

export interface ConfigKey<T, V = T | undefined> {
  /** The environment variable. */
  readonly env: string;
  /** The dotted path in the JSON config file; undefined for keys only the environment can set. */
  readonly file: string | undefined;
  readonly kind: ValueKind<T>;
  /** In the form a user writes it (e.g. "1m"); undefined means unset. */
  readonly default: string | undefined;
  /** One line for the README's table (Markdown). */
  readonly meaning: string;
  /** Never shown by `tally config check` nor quoted in a message. */
  readonly secret: boolean;
  /** An empty environment variable is a value (checked like any other), not "unset". */
  readonly blankIsValue: boolean;
  /** Type-level only: the value in TallyConfig (T, or T | undefined for a key without a default). */
  readonly valueType?: V;
}

interface KeySpec<T> {
  readonly env: string;
  readonly file?: string;
  readonly kind: ValueKind<T>;
  readonly default?: string;
  readonly meaning: string;
  readonly secret?: boolean;
  /** An empty environment variable is a value (checked like any other), not "unset". */
  readonly blankIsValue?: boolean;
}

function key<T>(spec: KeySpec<T> & { readonly default: string }): ConfigKey<T, T>;
function key<T>(spec: KeySpec<T>): ConfigKey<T, T | undefined>;
function key<T>(spec: KeySpec<T>): ConfigKey<T, T | undefined> {
  return { env: spec.env, file: spec.file, kind: spec.kind, default: spec.default, meaning: spec.meaning, secret: spec.secret ?? false, blankIsValue: spec.blankIsValue ?? false };
}

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Every configuration key. The order is the README's. */
export const configKeys = {
  configFile: key({
    env: "TALLY_CONFIG",
    kind: text("path"),
    meaning: "a JSON file with the file keys of this table; environment variables win over it",
  }),
  port: key({ env: "PORT", file: "port", kind: integer(0, 65535), default: "9001", meaning: "port for every protocol (0: any free port)" }),
  host: key({
    env: "HOST",
    file: "host",
    kind: text("address"),
    meaning: "address to listen on; unset: `0.0.0.0` with API tokens, `127.0.0.1` with `TALLY_AUTH=off`",
  }),
  databaseUrl: key({
    env: "DATABASE_URL",
    file: "databaseUrl",
    kind: url(["postgres:", "postgresql:"], "postgres://user@host:5432/tally"),
    meaning: "PostgreSQL connection string; unset means embedded PGlite",
  }),
  dataDir: key({
    env: "TALLY_DATA_DIR",
    file: "dataDir",
    kind: text("path"),
    default: "./data",
    meaning: "PGlite directory (locked: a second process on it stops with a message)",
  }),
  ledgerIntervalMs: key({ env: "TALLY_LEDGER_INTERVAL", file: "ledgerInterval", kind: duration(), default: "1m", meaning: "ledger schedule" }),
  resetIntervalMs: key({ env: "TALLY_RESET_INTERVAL", file: "resetInterval", kind: duration(), default: "15m", meaning: "reset schedule" }),
  invoiceIntervalMs: key({ env: "TALLY_INVOICE_INTERVAL", file: "invoiceInterval", kind: duration(), default: "1h", meaning: "invoice schedule (Stripe only)" }),
  jobsEnabled: key({
    env: "TALLY_JOBS",
    file: "jobsEnabled",
    kind: onOff(),
    default: "on",
    meaning: "`off` runs no scheduled jobs on this replica (it still answers RPCs)",
  }),
  defaultSpendingLimitForTeams: key({
    env: "TALLY_DEFAULT_SPENDING_LIMIT_TEAMS",
    file: "defaultSpendingLimit.forTeams",
    kind: integer(0, spendingLimitCreditsMax, "whole credits"),
    default: "0",
    meaning: "spending limit of new `team:` cost centers",
  }),
  defaultSpendingLimitForUsers: key({
    env: "TALLY_DEFAULT_SPENDING_LIMIT_USERS",
    file: "defaultSpendingLimit.forUsers",
    kind: integer(0, spendingLimitCreditsMax, "whole credits"),
    default: "500",
    meaning: "spending limit of new `user:` cost centers",
  }),
  creditsPerMinuteByWorkspaceClass: key({
    env: "TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS",
    file: "creditsPerMinuteByWorkspaceClass",
    kind: numberMap("JSON object, class -> credits per minute"),
    default: "{}",
    meaning: "price of each workspace class; unknown classes cost 1/6",
  }),
  stripeSecretKey: key({ env: "STRIPE_SECRET_KEY", file: "stripe.secretKey", kind: text("secret"), secret: true, meaning: "turns billing on" }),
  stripeWebhookSecret: key({
    env: "STRIPE_WEBHOOK_SECRET",
    file: "stripe.webhookSecret",
    kind: text("secret"),
    secret: true,
    meaning: "verifies `POST /webhooks/stripe` (unset: it answers 503)",
  }),
  stripeApiBase: key({
    env: "STRIPE_API_BASE",
    file: "stripe.apiBase",
    kind: url(["http:", "https:"], "http://127.0.0.1:12111"),
    meaning: "another Stripe-compatible server (unset: Stripe)",
  }),
  stripeUsagePriceIdEur: key({
    env: "STRIPE_USAGE_PRICE_ID_EUR",
    file: "stripe.usagePriceIds.EUR",
    kind: text("Stripe price id"),
    meaning: "metered per-credit EUR price (on a meter aggregating with `last`)",
  }),
  stripeUsagePriceIdUsd: key({
    env: "STRIPE_USAGE_PRICE_ID_USD",
    file: "stripe.usagePriceIds.USD",
    kind: text("Stripe price id"),
    meaning: "metered per-credit USD price (on a meter aggregating with `last`)",
  }),
  logLevel: key({ env: "LOG_LEVEL", file: "logLevel", kind: oneOf(logLevels), default: "info", meaning: "pino log level" }),
  apiTokens: key({
    env: "TALLY_API_TOKENS",
    file: "apiTokens",
    kind: apiTokens(),
    secret: true,
    blankIsValue: true,
    meaning: "bearer tokens (see Access control); required unless `TALLY_AUTH=off`; set but blank stops the start",
  }),
  authEnabled: key({
    env: "TALLY_AUTH",
    file: "auth",
    kind: onOff(),
    default: "on",
    meaning: "`off` runs without access control (only without `TALLY_API_TOKENS`), listening on `127.0.0.1` unless `HOST` is set",
  }),
  limitWarningPercent: key({
    env: "TALLY_LIMIT_WARNING_PERCENT",
    file: "limitWarningPercent",
    kind: ruled(integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), "whole number 1 to 99", (percent) => validateWarningPercent(percent)),
    default: String(limitWarningPercentDefault),
    meaning: "`limit.warning` fires, and `GetAccountStatus` says almost reached, above this % of the spending limit",
  }),
  eventEndpoints: key({
    env: "TALLY_EVENT_ENDPOINTS",
    file: "eventEndpoints",
    kind: ruled(json(), "JSON array of endpoints", parseEventEndpoints, (endpoints) => endpoints.map((endpoint) => `${endpoint.id} ${endpoint.url}`).join(", ") || "none"),
    default: "[]",
    secret: true,
    meaning: "webhook endpoints, synced at start (see Account events)",
  }),
  eventDeliveryTimeoutMs: key({
    env: "TALLY_EVENT_DELIVERY_TIMEOUT",
    file: "eventDeliveryTimeout",
    kind: duration(),
    default: "10s",
    meaning: "an event delivery without an answer within this is retried",
  }),
  databaseConnectTimeoutMs: key({
    env: "TALLY_DATABASE_CONNECT_TIMEOUT",
    file: "database.connectTimeout",
    kind: duration(),
    default: "5s",
    meaning: "opening a PostgreSQL connection, or waiting for a free one in the pool; then `UNAVAILABLE`",
  }),
  databaseQueryTimeoutMs: key({
    env: "TALLY_DATABASE_QUERY_TIMEOUT",
    file: "database.queryTimeout",
    kind: duration(),
    default: "20s",
    meaning: "Tally's wait for one answer from the database (a stalled network); PGlite: for one operation; then `UNAVAILABLE`",
  }),
  databaseStatementTimeoutMs: key({
    env: "TALLY_DATABASE_STATEMENT_TIMEOUT",
    file: "database.statementTimeout",
    kind: duration(),
    default: "15s",
    meaning: "PostgreSQL `statement_timeout` of Tally's sessions (not for migrations)",
  }),
  databaseIdleInTransactionTimeoutMs: key({
    env: "TALLY_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT",
    file: "database.idleInTransactionTimeout",
    kind: duration(),
    default: "10s",
    meaning: "PostgreSQL `idle_in_transaction_session_timeout`: a session stuck in a transaction is ended and its locks released",
  }),
  shutdownGraceMs: key({
    env: "TALLY_SHUTDOWN_GRACE",
    file: "shutdownGrace",
    kind: duration(),
    default: "10s",
    meaning: "on SIGTERM the process is gone within this, whatever requests, jobs or the database do",
  }),
  idempotencyKeyRetentionMs: key({
    env: "TALLY_IDEMPOTENCY_KEY_RETENTION",
    file: "idempotencyKeyRetention",
    // At least a day: a client retrying after an outage of hours must still find its key.
    kind: duration(24 * 3_600_000),
    default: "24h",
    meaning: "idempotency keys (and the results they replay) are kept this long, then pruned",
  }),
  httpMaxConnections: key({
    env: "TALLY_HTTP_MAX_CONNECTIONS",
    file: "http.maxConnections",
    kind: integer(1, 1_000_000),
    default: "1000",
    meaning: "open connections at most; more are closed at once (counted in `tally_http_refused_total`)",
  }),
  httpMaxConcurrentStreams: key({
    env: "TALLY_HTTP2_MAX_CONCURRENT_STREAMS",
    file: "http.maxConcurrentStreams",
    kind: integer(1, 10_000),
    default: "100",
    meaning: "HTTP/2 streams (calls) at once per connection, announced to the client",
  }),
  httpMaxStreams: key({
    env: "TALLY_HTTP_MAX_STREAMS",
    file: "http.maxStreams",
    kind: integer(1, 1_000_000),
    default: "500",
    meaning: "HTTP/2 streams open over all connections; more are refused (`REFUSED_STREAM`, which gRPC clients retry)",
  }),
  httpRequestBytesMax: key({
    env: "TALLY_HTTP_REQUEST_BYTES_MAX",
    file: "http.requestBytesMax",
    kind: integer(64 * 1024, 1024 * 1024 * 1024, "bytes"),
    default: String(8 * 1024 * 1024),
    meaning: "largest RPC request message; a larger one is answered `RESOURCE_EXHAUSTED` and the rest of its upload refused at once",
  }),
  httpConnectionBufferedBytesMax: key({
    env: "TALLY_HTTP_CONNECTION_BUFFERED_BYTES_MAX",
    file: "http.connectionBufferedBytesMax",
    kind: integer(64 * 1024, 4 * 1024 * 1024 * 1024, "bytes"),
    default: String(32 * 1024 * 1024),
    meaning: "request bytes received and not yet answered on one HTTP/2 connection; the stream that goes beyond is reset",
  }),
  httpStreamWindowBytes: key({
    env: "TALLY_HTTP2_STREAM_WINDOW_BYTES",
    file: "http.streamWindowBytes",
    kind: integer(65_535, 2 ** 31 - 1, "bytes"),
    default: String(1024 * 1024),
    meaning:
      "HTTP/2 flow-control window of each stream: request bytes a client may send before Tally has read them; a whole batch of instances fits, so its upload does not wait on a busy server",
  }),
  httpConnectionWindowBytes: key({
    env: "TALLY_HTTP2_CONNECTION_WINDOW_BYTES",
    file: "http.connectionWindowBytes",
    kind: integer(65_535, 2 ** 31 - 1, "bytes"),
    default: String(4 * 1024 * 1024),
    meaning: "HTTP/2 flow-control window of each connection: request bytes of all its streams sent before Tally has read them",
  }),
  httpHeadersTimeoutMs: key({
    env: "TALLY_HTTP_HEADERS_TIMEOUT",
    file: "http.headersTimeout",
    kind: duration(100),
    default: "10s",
    meaning: "a new connection's first bytes, and HTTP/1.1 request headers, must arrive within this",
  }),
  httpRequestTimeoutMs: key({
    env: "TALLY_HTTP_REQUEST_TIMEOUT",
    file: "http.requestTimeout",
    kind: duration(100),
    default: "30s",
    meaning: "a request's body must have arrived within this, or its stream is reset (HTTP/1.1: 408); not for server reflection",
  }),
  httpIdleTimeoutMs: key({
    env: "TALLY_HTTP_IDLE_TIMEOUT",
    file: "http.idleTimeout",
    kind: duration(100),
    default: "60s",
    meaning: "a connection without a call in progress is closed after this (HTTP/2: GOAWAY)",
  }),
  gitpodDatabaseUrl: key({
    env: "TALLY_GITPOD_DATABASE_URL",
    file: "gitpod.databaseUrl",
    kind: url(["mysql:"], "mysql://user:password@host:3306/gitpod"),
    meaning:
      "Gitpod's MySQL database, read only: the ledger job and `ReconcileUsage` also read workspace instances there (see Replacing Gitpod's usage component); unset: standalone only",
  }),
  gitpodServerUrl: key({
    env: "TALLY_GITPOD_SERVER_URL",
    file: "gitpod.serverUrl",
    kind: url(["http:", "https:"], "http://server.default.svc.cluster.local:3000"),
    meaning:
      "Gitpod server's internal address (public API, Connect): a charge dispute also blocks every owner of the organization there (`UserService/BlockUser`, retried until it succeeds); needs `TALLY_GITPOD_DATABASE_URL`",
  }),
};

/**
 * eventEndpoints: a JSON array of {"name", "url", "eventTypes": [...], "secret": "whsec_...",
 * "description"?}. Each becomes the endpoint "config:<name>".
 */
function parseEventEndpoints(value: unknown): ConfiguredEndpoint[] {
  if (!Array.isArray(value)) throw new ConfigError("eventEndpoints must be a JSON array of endpoints");
  if (value.length > endpointsMax) throw new ConfigError(`eventEndpoints has ${value.length} endpoints, at most ${endpointsMax} are allowed`);
  const endpoints = value.map((item: unknown, index): ConfiguredEndpoint => {
    const key = `eventEndpoints[${index}]`;
    if (typeof item !== "object" || item === null) throw new ConfigError(`${key} must be an object`);
    const { name, url, eventTypes, secret, description } = item as Record<string, unknown>;
    const text = (field: string, fieldValue: unknown) => {
      if (typeof fieldValue !== "string") throw new ConfigError(`${key}.${field} must be a string`);
      return fieldValue;
    };
    const id = `config:${text("name", name)}`;
    if (!configEndpointIdPattern.test(id)) {
      throw new ConfigError(`${key}.name ${JSON.stringify(name)} must be 1 to 63 lower-case letters, digits, ".", "_" or "-"`);
    }
    if (!Array.isArray(eventTypes) || !eventTypes.every((type) => typeof type === "string")) {
      throw new ConfigError(`${key}.eventTypes must be an array of event types`);
    }
    return {
      id,
      url: parseEndpointUrl(text("url", url), `${key}.url`),
      description: parseEndpointDescription(description === undefined ? "" : text("description", description), `${key}.description`),
      eventTypes: parseEventTypes(eventTypes as string[], `${key}.eventTypes`),
      secret: parseEndpointSecret(text("secret", secret), `${key}.secret`),
    };
  });
  const ids = endpoints.map((endpoint) => endpoint.id);
  const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
  if (duplicate) throw new ConfigError(`eventEndpoints names ${JSON.stringify(duplicate.slice("config:".length))} twice`);
  return endpoints;
}

export type ConfigKeyName = keyof typeof configKeys;
type ValueOf<K> = K extends ConfigKey<infer _T, infer V> ? V : never;

/** One typed value per key of `configKeys`. */
export type ConfigSettings = { readonly [N in ConfigKeyName]: ValueOf<(typeof configKeys)[N]> };

export interface StripeConfig {
  readonly secretKey: string;
  readonly webhookSecret: string;
  /** Another Stripe-compatible server, e.g. the emulator: http://127.0.0.1:12111 */
  readonly apiBase: string | undefined;
  readonly usagePriceIds: { readonly EUR?: string; readonly USD?: string };
}

/** The settings, plus what follows from several of them. */
export interface TallyConfig extends ConfigSettings {
  /** How long Tally waits for the database before answering UNAVAILABLE (see store/database.ts). */
  readonly databaseTimeouts: DatabaseTimeouts;
  readonly defaultSpendingLimit: DefaultSpendingLimits;
  readonly priceTable: PriceTable;
  /** Undefined when billing is off (no STRIPE_SECRET_KEY). */
  readonly stripe: StripeConfig | undefined;
  /** HOST, else 0.0.0.0 with access control and 127.0.0.1 without (TALLY_AUTH=off). */
  readonly listenHost: string;
  /** What one peer may hold of the server (see http-front.ts). */
  readonly httpLimits: HttpLimits;
}

/** Rules across keys; each returns a problem or undefined. */
const crossKeyRules: ((settings: ConfigSettings) => string | undefined)[] = [
  (settings) => {
    if (settings.stripeSecretKey !== undefined) return undefined;
    const stray = (["stripeWebhookSecret", "stripeApiBase", "stripeUsagePriceIdEur", "stripeUsagePriceIdUsd"] as const).filter(
      (name) => settings[name] !== undefined,
    );
    if (stray.length === 0) return undefined;
    const names = stray.map((name) => configKeys[name].env).join(", ");
    return `${names} ${stray.length === 1 ? "is" : "are"} set but STRIPE_SECRET_KEY is not: billing would stay off; set STRIPE_SECRET_KEY (stripe.secretKey) too, or remove them`;
  },
  (settings) => {
    if (settings.gitpodServerUrl === undefined || settings.gitpodDatabaseUrl !== undefined) return undefined;
    return "TALLY_GITPOD_SERVER_URL is set but TALLY_GITPOD_DATABASE_URL is not: the owners to block on a charge dispute are read from Gitpod's database; set it too, or unset TALLY_GITPOD_SERVER_URL";
  },
  (settings) => {
    if (settings.authEnabled || settings.apiTokens === undefined) return undefined;
    return "TALLY_AUTH is off but TALLY_API_TOKENS is set: remove TALLY_AUTH=off to check the tokens, or unset TALLY_API_TOKENS to run without access control";
  },
];

/**
 * What stops a server from starting although the keys are valid one by one: access control is on
 * (the default) but there are no tokens. Running without access control takes TALLY_AUTH=off; a
 * configuration that merely forgot its tokens must not open everything to everyone.
 */
export function servingProblems(config: TallyConfig): string[] {
  if (!config.authEnabled || config.apiTokens !== undefined) return [];
  return [
    "access control is on but TALLY_API_TOKENS is not set: set TALLY_API_TOKENS=name:role:token,... (see Access control in the README), " +
      "or TALLY_AUTH=off to run without access control (Tally then listens on 127.0.0.1 unless HOST is set)",
  ];
}

function derive(settings: ConfigSettings): TallyConfig {
  const stripe: StripeConfig | undefined =
    settings.stripeSecretKey === undefined
      ? undefined
      : {
          secretKey: settings.stripeSecretKey,
          webhookSecret: settings.stripeWebhookSecret ?? "",
          apiBase: settings.stripeApiBase,
          usagePriceIds: { EUR: settings.stripeUsagePriceIdEur, USD: settings.stripeUsagePriceIdUsd },
        };
  return {
    ...settings,
    defaultSpendingLimit: { forTeams: settings.defaultSpendingLimitForTeams, forUsers: settings.defaultSpendingLimitForUsers },
    priceTable: buildPriceTable(settings.creditsPerMinuteByWorkspaceClass),
    stripe,
    listenHost: settings.host ?? (settings.authEnabled ? "0.0.0.0" : "127.0.0.1"),
    httpLimits: {
      maxConnections: settings.httpMaxConnections,
      maxConcurrentStreams: settings.httpMaxConcurrentStreams,
      maxStreams: settings.httpMaxStreams,
      connectionBufferedBytesMax: settings.httpConnectionBufferedBytesMax,
      streamWindowBytes: settings.httpStreamWindowBytes,
      connectionWindowBytes: settings.httpConnectionWindowBytes,
      headersTimeoutMs: settings.httpHeadersTimeoutMs,
      requestTimeoutMs: settings.httpRequestTimeoutMs,
      idleTimeoutMs: settings.httpIdleTimeoutMs,
    },
    databaseTimeouts: {
      connectTimeoutMs: settings.databaseConnectTimeoutMs,
      queryTimeoutMs: settings.databaseQueryTimeoutMs,
      statementTimeoutMs: settings.databaseStatementTimeoutMs,
      idleInTransactionTimeoutMs: settings.databaseIdleInTransactionTimeoutMs,
    },
  };
}

export type ConfigSource = "environment" | "file" | "default" | "unset";

export interface ConfigEntry {
  readonly name: ConfigKeyName;
  readonly key: ConfigKey<unknown>;
  readonly source: ConfigSource;
  /** The value as `tally config check` shows it (secrets hidden). */
  readonly shown: string;
}

export interface ConfigReport {
  readonly entries: readonly ConfigEntry[];
  readonly problems: readonly string[];
  /** Present when there are no problems. */
  readonly config: TallyConfig | undefined;
}

/** Reads and checks every key; reports every problem instead of stopping at the first. */
export function inspectConfig(env: NodeJS.ProcessEnv = process.env): ConfigReport {
  const problems: string[] = [];
  const configFile = present(env.TALLY_CONFIG);
  const file = configFile === undefined ? new Map<string, unknown>() : readConfigFile(configFile, problems);
  const entries: ConfigEntry[] = [];
  const settings: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(configKeys) as [ConfigKeyName, ConfigKey<unknown>][]) {
    const fromEnv = entry.blankIsValue ? env[entry.env] : present(env[entry.env]);
    const source: ConfigSource =
      fromEnv !== undefined ? "environment" : entry.file !== undefined && file.has(entry.file) ? "file" : entry.default !== undefined ? "default" : "unset";
    const raw = source === "environment" ? fromEnv : source === "file" ? file.get(entry.file!) : entry.default;
    if (source === "unset") {
      entries.push({ name, key: entry, source, shown: "unset" });
      continue;
    }
    const parsed = entry.kind.schema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((issue) => describeIssue(entry, raw, source, configFile, issue)));
      continue;
    }
    settings[name] = parsed.data;
    entries.push({ name, key: entry, source, shown: show(entry, parsed.data) });
  }
  if (problems.length === 0) {
    for (const rule of crossKeyRules) {
      const problem = rule(settings as ConfigSettings);
      if (problem) problems.push(problem);
    }
  }
  return { entries, problems, config: problems.length === 0 ? derive(settings as ConfigSettings) : undefined };
}

/** The configuration of the environment (and the file it names), or a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): TallyConfig {
  const report = inspectConfig(env);
  if (report.config) return report.config;
  const [first, ...rest] = report.problems;
  if (rest.length === 0) throw new ConfigError(first!);
  throw new ConfigError(`${report.problems.length} configuration problems:\n${report.problems.map((problem) => `  - ${problem}`).join("\n")}`);
}

function present(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function show(entry: ConfigKey<unknown>, value: unknown): string {
  if (entry.secret && !entry.kind.display) return "(set, hidden)";
  if (entry.kind.display) return entry.kind.display(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

function describeIssue(entry: ConfigKey<unknown>, raw: unknown, source: ConfigSource, configFile: string | undefined, issue: z.core.$ZodIssue): string {
  const from = source === "environment" ? `from ${entry.env}` : source === "file" ? `in ${configFile}` : "the default";
  const params = (issue as { params?: Record<string, unknown> }).params;
  if (params?.whole === wholeMessage.whole) return `${issue.message} (${from})`;
  const name = entry.file ?? entry.env;
  const at = issue.path.length > 0 ? `.${issue.path.join(".")}` : "";
  const quoted = entry.secret ? "" : ` ${quote(valueAt(raw, issue.path))}`;
  return `${name}${at}${quoted} ${issue.message} (${from})`;
}

/** The part of a value an issue is about (in a JSON object given as text too). */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  if (path.length === 0) return raw;
  let value: unknown = raw;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return raw;
    }
  }
  for (const part of path) value = typeof value === "object" && value !== null ? (value as Record<PropertyKey, unknown>)[part] : undefined;
  return value;
}

function quote(raw: unknown): string {
  // A number is shown as one (`port 70000`), other text quoted (`ledgerInterval "soon"`).
  if (typeof raw === "string" && /^[+-]?\d+(\.\d+)?$/.test(raw.trim())) return raw.trim();
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The file keys as a tree of strict objects, so that a misspelt key in the file is refused. */
function fileShape(): z.ZodType<Record<string, unknown>> {
  interface Tree {
    [part: string]: Tree | true;
  }
  const tree: Tree = {};
  for (const entry of Object.values(configKeys) as ConfigKey<unknown>[]) {
    if (entry.file === undefined) continue;
    const parts = entry.file.split(".");
    let node = tree;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Tree;
    node[parts.at(-1)!] = true;
  }
  const toSchema = (node: Tree): z.ZodType<Record<string, unknown>> =>
    z.strictObject(
      Object.fromEntries(Object.entries(node).map(([part, child]) => [part, child === true ? z.unknown().optional() : toSchema(child).optional()])),
      { error: "must be a JSON object" },
    );
  return toSchema(tree);
}

/** The file's values by dotted key; problems go to `problems`. */
function readConfigFile(path: string, problems: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (error) {
    problems.push(`cannot read TALLY_CONFIG ${path}: ${(error as Error).message}`);
    return values;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
  } catch (error) {
    problems.push(`TALLY_CONFIG ${path} is not a JSON object: ${(error as Error).message}`);
    return values;
  }
  // Unknown keys are reported; the known ones are still read, so every problem shows in one run.
  const checked = fileShape().safeParse(parsed);
  for (const issue of checked.error?.issues ?? []) {
    const where = (parts: readonly PropertyKey[]) => parts.map(String).join(".");
    const what =
      issue.code === "unrecognized_keys"
        ? issue.keys.map((unknown) => `unknown key ${JSON.stringify(where([...issue.path, unknown]))}`).join(", ")
        : `${where(issue.path)} ${issue.message}`;
    problems.push(`TALLY_CONFIG ${path}: ${what} (the README's configuration table lists the file keys)`);
  }
  const leaves = new Set((Object.values(configKeys) as ConfigKey<unknown>[]).map((entry) => entry.file));
  const walk = (object: Record<string, unknown>, prefix: string) => {
    for (const [part, value] of Object.entries(object)) {
      const dotted = prefix + part;
      if (leaves.has(dotted)) {
        if (value !== undefined && value !== null) values.set(dotted, value);
      } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        walk(value as Record<string, unknown>, `${dotted}.`);
      }
    }
  };
  walk(parsed as Record<string, unknown>, "");
  return values;
}
