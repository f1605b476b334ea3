// Gitpod's MySQL database (TALLY_GITPOD_DATABASE_URL), read-only, over a small mysql2 pool.
//
// Tally never writes there: every session is set READ ONLY when the pool opens it, and this module
// offers reads only. Every call is bounded: opening a connection (connectTimeoutMs), waiting for a
// free one plus the query's answer (queryTimeoutMs, measured by Tally, so a stalled network is
// covered too). A failure of any kind is a TallyError "Unavailable" naming Gitpod's database, so a
// job run fails cleanly with a reason and an RPC answers UNAVAILABLE.
import mysql from "mysql2/promise";
import { withDeadline } from "../deadline.js";
import { TallyError } from "../domain/tally-error.js";
import type { Logger } from "../logger.js";

/** Connections Tally keeps to Gitpod's database at most (reads are paged and sequential). */
export const gitpodPoolSizeDefault = 4;

export interface GitpodDatabaseOptions {
  /** mysql://user:password@host:port/database */
  readonly url: string;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  readonly poolSize?: number;
  readonly logger?: Logger;
}

/** A value bound to a `?` placeholder. */
export type SqlValue = string | number | bigint | boolean | null | readonly (string | number)[];

export interface GitpodDatabase {
  /** Rows of one read-only statement with `?` placeholders. */
  query<T extends object>(statement: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Resolves when the database answers; throws TallyError "Unavailable" otherwise. */
  ping(): Promise<void>;
  /** The URL with the password hidden, for logs and status. */
  readonly description: string;
  close(): Promise<void>;
}

export function describeGitpodUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "****";
  return parsed.toString();
}

export function openGitpodDatabase(options: GitpodDatabaseOptions): GitpodDatabase {
  const url = new URL(options.url);
  if (url.protocol !== "mysql:") throw new Error(`Gitpod's database URL must start with mysql://, not ${url.protocol}//`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!database) throw new Error("Gitpod's database URL must name the database: mysql://user:password@host:port/database");
  const description = describeGitpodUrl(options.url);
  const pool = mysql.createPool({
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    connectionLimit: options.poolSize ?? gitpodPoolSizeDefault,
    maxIdle: options.poolSize ?? gitpodPoolSizeDefault,
    idleTimeout: 60_000,
    connectTimeout: options.connectTimeoutMs,
    waitForConnections: true,
    queueLimit: 0,
    enableKeepAlive: true,
    // Times are strings in Gitpod's tables anyway; timestamps (e.g. _lastModified) stay strings too.
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    charset: "utf8mb4",
    timezone: "Z",
  });
  const logger = options.logger;
  // A connection that breaks while idle is dropped by the pool; without these handlers an 'error'
  // event nobody listens to would end the process.
  pool.on("connection", (connection) => {
    connection.on("error", (error: Error) => logger?.warn({ err: error }, "a connection to Gitpod's database failed: %s", error.message));
    // Read-only sessions: a statement that writes fails in MySQL itself, whatever Tally's code says.
    connection.query("SET SESSION TRANSACTION READ ONLY");
  });
  (pool as unknown as NodeJS.EventEmitter).on("error", (error: Error) =>
    logger?.warn({ err: error }, "Gitpod's database pool: %s", error.message),
  );
  const unavailable = (error: unknown) =>
    error instanceof TallyError
      ? error
      : new TallyError("Unavailable", `Gitpod's database ${description} is unavailable: ${reasonOf(error)}`, { cause: error });
  const query = async <T extends object>(statement: string, params: readonly SqlValue[] = []): Promise<T[]> => {
    const running = pool.query({ sql: statement, timeout: options.queryTimeoutMs }, params as unknown[]);
    // The deadline covers waiting for a connection (opened or freed) as well as the answer.
    running.catch(() => undefined);
    try {
      const [rows] = await withDeadline(
        running,
        options.connectTimeoutMs + options.queryTimeoutMs,
        () => new TallyError("Unavailable", `Gitpod's database ${description} did not answer within ${options.connectTimeoutMs + options.queryTimeoutMs} ms`),
      );
      return rows as T[];
    } catch (error) {
      throw unavailable(error);
    }
  };
  return {
    description,
    query,
    async ping() {
      await query("SELECT 1 AS ok");
    },
    async close() {
      await pool.end().catch(() => undefined);
    },
  };
}

function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return reasonOf(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code) ? `${code}: ${error.message}` : error.message || String(code ?? error);
  }
  return String(error);
}
