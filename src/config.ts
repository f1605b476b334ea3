// Configuration: environment variables, optionally over a JSON file (TALLY_CONFIG) with the keys
// of SPEC.md. Environment variables win over the file. Invalid values stop the start with a message.
import fs from "node:fs";
import { ApiTokenError, parseApiTokens, type ApiToken } from "./access/api-tokens.js";
import type { DefaultSpendingLimits } from "./domain/cost-center.js";
import { validateSpendingLimit } from "./domain/cost-center.js";
import { buildPriceTable, type PriceTable } from "./domain/pricing.js";
import { parseEventTypes } from "./domain/account-event.js";
import {
  configEndpointIdPattern,
  parseEndpointDescription,
  parseEndpointSecret,
  parseEndpointUrl,
  endpointsMax,
  type ConfiguredEndpoint,
} from "./domain/event-endpoint.js";
import { limitWarningPercentDefault, validateWarningPercent } from "./domain/limit-threshold.js";
import { TallyError } from "./domain/tally-error.js";
import type { DatabaseTimeouts } from "./store/database.js";

export interface StripeConfig {
  readonly secretKey: string;
  readonly webhookSecret: string;
  /** Another Stripe-compatible server, e.g. the emulator: http://127.0.0.1:12111 */
  readonly apiBase: string | undefined;
  readonly usagePriceIds: { readonly EUR?: string; readonly USD?: string };
}

export interface TallyConfig {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly ledgerIntervalMs: number;
  readonly resetIntervalMs: number;
  readonly invoiceIntervalMs: number;
  /** When false, the server answers RPCs but runs no scheduled jobs (e.g. tests, read replicas). */
  readonly jobsEnabled: boolean;
  readonly defaultSpendingLimit: DefaultSpendingLimits;
  readonly creditsPerMinuteByWorkspaceClass: Readonly<Record<string, number>>;
  readonly priceTable: PriceTable;
  readonly stripe: StripeConfig | undefined;
  readonly logLevel: string;
  /** Bearer tokens (TALLY_API_TOKENS); undefined means access control is off. */
  readonly apiTokens: readonly ApiToken[] | undefined;
  /** limit.warning fires (and GetAccountStatus says almost reached) above this % of the spending limit. */
  readonly limitWarningPercent: number;
  /** Webhook endpoints from the configuration (eventEndpoints), synced to the database at start. */
  readonly eventEndpoints: readonly ConfiguredEndpoint[];
  /** A delivery attempt without an answer within this long is a timeout. */
  readonly eventDeliveryTimeoutMs: number;
  /** How long Tally waits for the database before answering UNAVAILABLE (see store/database.ts). */
  readonly databaseTimeouts: DatabaseTimeouts;
  /** On SIGTERM the process is gone within this, whatever requests, jobs or the database do. */
  readonly shutdownGraceMs: number;
  /** Idempotency keys (and the responses they replay) are kept at least this long. */
  readonly idempotencyKeyRetentionMs: number;
}

/** Idempotency keys live at least a day: a client retrying after an outage of hours must still find its key. */
export const idempotencyKeyRetentionMinMs = 24 * 3_600_000;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

interface FileConfig {
  port?: number;
  host?: string;
  databaseUrl?: string;
  dataDir?: string;
  ledgerInterval?: string;
  resetInterval?: string;
  invoiceInterval?: string;
  jobsEnabled?: boolean;
  defaultSpendingLimit?: { forTeams?: number; forUsers?: number };
  creditsPerMinuteByWorkspaceClass?: Record<string, number>;
  stripe?: { secretKey?: string; webhookSecret?: string; apiBase?: string; usagePriceIds?: { EUR?: string; USD?: string } };
  logLevel?: string;
  apiTokens?: string;
  limitWarningPercent?: number;
  eventEndpoints?: unknown;
  eventDeliveryTimeout?: string;
  database?: { connectTimeout?: string; queryTimeout?: string; statementTimeout?: string; idleInTransactionTimeout?: string };
  shutdownGrace?: string;
  idempotencyKeyRetention?: string;
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses Go-style durations: "90s", "1m", "1h30m", "250ms". */
export function parseDurationMs(text: string, key: string): number {
  const trimmed = text.trim();
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let match = pattern.exec(trimmed); match; match = pattern.exec(trimmed)) {
    total += Number(match[1]) * durationUnitsMs[match[2]!]!;
    matched = pattern.lastIndex;
  }
  if (trimmed === "" || matched !== trimmed.length) {
    throw new ConfigError(`${key} ${JSON.stringify(text)} is not a duration like "90s", "1m" or "1h30m"`);
  }
  if (total < 1000) throw new ConfigError(`${key} ${JSON.stringify(text)} must be at least 1s`);
  return Math.round(total);
}

function readFileConfig(file: string | undefined): FileConfig {
  if (!file) return {};
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read TALLY_CONFIG ${file}: ${(error as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
    return parsed as FileConfig;
  } catch (error) {
    throw new ConfigError(`TALLY_CONFIG ${file} is not a JSON object: ${(error as Error).message}`);
  }
}

function parseInteger(text: string | number | undefined, key: string, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = typeof text === "number" ? text : Number(text);
  if (!Number.isInteger(value)) throw new ConfigError(`${key} ${JSON.stringify(text)} must be an integer`);
  return value;
}

function spendingLimit(text: string | number | undefined, key: string, fallback: number): number {
  const value = parseInteger(text, key, fallback);
  try {
    return validateSpendingLimit(value, key);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): TallyConfig {
  const file = readFileConfig(env.TALLY_CONFIG);
  const port = parseInteger(env.PORT ?? file.port, "PORT", 9001);
  if (port < 0 || port > 65535) throw new ConfigError(`PORT ${port} must be between 0 and 65535`);
  const creditsPerMinuteByWorkspaceClass = file.creditsPerMinuteByWorkspaceClass ?? {};
  if (env.TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS) {
    try {
      Object.assign(creditsPerMinuteByWorkspaceClass, JSON.parse(env.TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS));
    } catch {
      throw new ConfigError("TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS must be a JSON object of class -> credits per minute");
    }
  }
  let priceTable: PriceTable;
  try {
    priceTable = buildPriceTable(creditsPerMinuteByWorkspaceClass);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const secretKey = env.STRIPE_SECRET_KEY ?? file.stripe?.secretKey;
  const stripe: StripeConfig | undefined = secretKey
    ? {
        secretKey,
        webhookSecret: env.STRIPE_WEBHOOK_SECRET ?? file.stripe?.webhookSecret ?? "",
        apiBase: env.STRIPE_API_BASE ?? file.stripe?.apiBase,
        usagePriceIds: {
          EUR: env.STRIPE_USAGE_PRICE_ID_EUR ?? file.stripe?.usagePriceIds?.EUR,
          USD: env.STRIPE_USAGE_PRICE_ID_USD ?? file.stripe?.usagePriceIds?.USD,
        },
      }
    : undefined;
  const databaseUrl = env.DATABASE_URL ?? file.databaseUrl;
  return {
    port,
    host: env.HOST ?? file.host ?? "0.0.0.0",
    databaseUrl: databaseUrl || undefined,
    dataDir: env.TALLY_DATA_DIR ?? file.dataDir ?? "./data",
    ledgerIntervalMs: parseDurationMs(env.TALLY_LEDGER_INTERVAL ?? file.ledgerInterval ?? "1m", "ledgerInterval"),
    resetIntervalMs: parseDurationMs(env.TALLY_RESET_INTERVAL ?? file.resetInterval ?? "15m", "resetInterval"),
    invoiceIntervalMs: parseDurationMs(env.TALLY_INVOICE_INTERVAL ?? file.invoiceInterval ?? "1h", "invoiceInterval"),
    jobsEnabled: (env.TALLY_JOBS ?? (file.jobsEnabled === false ? "off" : "on")) !== "off",
    defaultSpendingLimit: {
      forTeams: spendingLimit(env.TALLY_DEFAULT_SPENDING_LIMIT_TEAMS ?? file.defaultSpendingLimit?.forTeams, "defaultSpendingLimit.forTeams", 0),
      forUsers: spendingLimit(env.TALLY_DEFAULT_SPENDING_LIMIT_USERS ?? file.defaultSpendingLimit?.forUsers, "defaultSpendingLimit.forUsers", 500),
    },
    creditsPerMinuteByWorkspaceClass,
    priceTable,
    stripe,
    logLevel: env.LOG_LEVEL ?? file.logLevel ?? "info",
    apiTokens: loadApiTokens(env.TALLY_API_TOKENS ?? file.apiTokens),
    databaseTimeouts: {
      connectTimeoutMs: parseDurationMs(env.TALLY_DATABASE_CONNECT_TIMEOUT ?? file.database?.connectTimeout ?? "5s", "database.connectTimeout"),
      queryTimeoutMs: parseDurationMs(env.TALLY_DATABASE_QUERY_TIMEOUT ?? file.database?.queryTimeout ?? "20s", "database.queryTimeout"),
      statementTimeoutMs: parseDurationMs(env.TALLY_DATABASE_STATEMENT_TIMEOUT ?? file.database?.statementTimeout ?? "15s", "database.statementTimeout"),
      idleInTransactionTimeoutMs: parseDurationMs(
        env.TALLY_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT ?? file.database?.idleInTransactionTimeout ?? "10s",
        "database.idleInTransactionTimeout",
      ),
    },
    shutdownGraceMs: parseDurationMs(env.TALLY_SHUTDOWN_GRACE ?? file.shutdownGrace ?? "10s", "shutdownGrace"),
    idempotencyKeyRetentionMs: idempotencyKeyRetention(env.TALLY_IDEMPOTENCY_KEY_RETENTION ?? file.idempotencyKeyRetention ?? "24h"),
    limitWarningPercent: configValue(() =>
      validateWarningPercent(parseInteger(env.TALLY_LIMIT_WARNING_PERCENT ?? file.limitWarningPercent, "limitWarningPercent", limitWarningPercentDefault)),
    ),
    eventEndpoints: loadEventEndpoints(env.TALLY_EVENT_ENDPOINTS, file.eventEndpoints),
    eventDeliveryTimeoutMs: parseDurationMs(env.TALLY_EVENT_DELIVERY_TIMEOUT ?? file.eventDeliveryTimeout ?? "10s", "eventDeliveryTimeout"),
  };
}

function idempotencyKeyRetention(text: string): number {
  const ms = parseDurationMs(text, "idempotencyKeyRetention");
  if (ms < idempotencyKeyRetentionMinMs) {
    throw new ConfigError(`idempotencyKeyRetention ${JSON.stringify(text)} must be at least 24h: clients retry after long outages`);
  }
  return ms;
}

/** A domain rule broken by a configured value stops the start with its message. */
function configValue<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof TallyError) throw new ConfigError(error.message);
    throw error;
  }
}

/**
 * eventEndpoints: a JSON array (the file's key, or TALLY_EVENT_ENDPOINTS as JSON text) of
 * {"name", "url", "eventTypes": [...], "secret": "whsec_...", "description"?}. Each becomes the
 * endpoint "config:<name>".
 */
function loadEventEndpoints(envText: string | undefined, fileValue: unknown): ConfiguredEndpoint[] {
  let value = fileValue;
  if (envText !== undefined && envText.trim() !== "") {
    try {
      value = JSON.parse(envText);
    } catch {
      throw new ConfigError("TALLY_EVENT_ENDPOINTS must be a JSON array of endpoints");
    }
  }
  if (value === undefined) return [];
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
    return configValue(() => ({
      id,
      url: parseEndpointUrl(text("url", url), `${key}.url`),
      description: parseEndpointDescription(description === undefined ? "" : text("description", description), `${key}.description`),
      eventTypes: parseEventTypes(eventTypes as string[], `${key}.eventTypes`),
      secret: parseEndpointSecret(text("secret", secret), `${key}.secret`),
    }));
  });
  const ids = endpoints.map((endpoint) => endpoint.id);
  const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
  if (duplicate) throw new ConfigError(`eventEndpoints names ${JSON.stringify(duplicate.slice("config:".length))} twice`);
  return endpoints;
}

function loadApiTokens(text: string | undefined): ApiToken[] | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  try {
    return parseApiTokens(text);
  } catch (error) {
    if (error instanceof ApiTokenError) throw new ConfigError(error.message);
    throw error;
  }
}
