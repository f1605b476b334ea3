// The one file that knows PGlite from pg. Everything else takes the typed `Database` handle.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePg, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { settlesBy, withDeadline } from "../deadline.js";
import { TallyError } from "../domain/tally-error.js";
import { unavailableReason } from "./pg-error.js";
import { initPgliteDataDir, isPgliteDataDir } from "./pglite-init.js";
import { pgliteStartParams, useBaselineWasmCompiler } from "./pglite-options.js";
import * as schema from "./schema.js";

export type Schema = typeof schema;
/** A database or a transaction on it: both run queries the same way. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;

export interface DatabaseHandle {
  readonly kind: "postgres" | "pglite";
  readonly db: Database;
  /** A short description for logs, without secrets. */
  readonly description: string;
  /** Transactions that can make progress at once: the pool size on PostgreSQL, 1 on PGlite (one session). */
  readonly concurrentTransactionsMax: number;
  /**
   * Runs `work` while holding the session-level advisory lock `key` on a dedicated connection, or
   * returns `{ acquired: false }` at once when another session holds it. If this process dies, its
   * connection closes and PostgreSQL releases the lock, so another replica takes over. On PGlite
   * (one process owns the data directory) the lock never contends.
   */
  tryWithAdvisoryLock<T>(key: bigint, work: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }>;
  /**
   * Closes the database. Work still holding a connection gets until `deadlineMs` (a
   * `performance.now()` time; default: no deadline) to finish; then its connections are cut, so a
   * stalled database cannot hold a shutdown. Resolves by the deadline whatever the database does.
   */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * How long Tally waits for the database. A stalled or lost database must answer the caller with
 * UNAVAILABLE in bounded time, never hang it, and must not leave sessions holding locks.
 */
export interface DatabaseTimeouts {
  /** Opening a connection, and waiting for a free one in the pool (PostgreSQL). */
  readonly connectTimeoutMs: number;
  /**
   * One query's answer, measured by Tally: covers a stalled network, which no server-side timeout
   * sees. On PostgreSQL a connection whose query timed out is closed (its state is unknown); on
   * PGlite, an operation (query or transaction) that has not finished by then is answered
   * UNAVAILABLE, and a transaction that has not started by then never starts.
   */
  readonly queryTimeoutMs: number;
  /** PostgreSQL cancels a statement running longer (statement_timeout). */
  readonly statementTimeoutMs: number;
  /** PostgreSQL ends a session idle inside a transaction longer (idle_in_transaction_session_timeout), releasing its locks. */
  readonly idleInTransactionTimeoutMs: number;
}

/**
 * Safe defaults. The server's statement timeout comes before Tally's query timeout, so a slow
 * statement ends with PostgreSQL's precise error and a connection that stays usable; Tally's own
 * timeout only fires when the server cannot answer at all. Tally's transactions make no network
 * calls, so 10 s idle inside one means its client is gone or stuck.
 */
export const defaultDatabaseTimeouts: DatabaseTimeouts = {
  connectTimeoutMs: 5_000,
  queryTimeoutMs: 20_000,
  statementTimeoutMs: 15_000,
  idleInTransactionTimeoutMs: 10_000,
};

export interface DatabaseOptions {
  /** PostgreSQL connection string; when absent, embedded PGlite in `dataDir`. */
  readonly databaseUrl?: string | undefined;
  readonly dataDir: string;
  /** Connections in the pool (PostgreSQL only). */
  readonly poolSize?: number;
  readonly timeouts?: DatabaseTimeouts;
  /** Told when a connection fails outside a query (terminated by the server, reset, timed out). */
  readonly onConnectionError?: (error: Error) => void;
}

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");
/** Arbitrary, fixed: the advisory lock that serialises migrations across replicas. */
const migrationLockKey = 7_411_001;

// int8 comes back as a string from pg and a number from PGlite; both must be exact bigints.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => BigInt(value));

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  const timeouts = options.timeouts ?? defaultDatabaseTimeouts;
  const onConnectionError = options.onConnectionError ?? (() => {});
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.poolSize ?? 10, timeouts, onConnectionError)
    : openPglite(options.dataDir, timeouts);
}

async function openPostgres(
  databaseUrl: string,
  poolSize: number,
  timeouts: DatabaseTimeouts,
  onConnectionError: (error: Error) => void,
): Promise<DatabaseHandle> {
  await migratePostgres(databaseUrl, timeouts);
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: "tally",
    // Sent as session parameters at connect: PostgreSQL enforces them whatever Tally does.
    statement_timeout: timeouts.statementTimeoutMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs,
    query_timeout: timeouts.queryTimeoutMs,
    // A peer that vanished without a FIN (host down, network partition) is found by keepalives.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  const clients = new Set<pg.PoolClient>();
  // An idle pooled client that loses its connection emits here; without a listener the process would crash.
  pool.on("error", (error) => onConnectionError(error));
  pool.on("connect", (client) => {
    clients.add(client);
    // A checked-out client has no pool listener: one terminated (57P01), timed out in a transaction
    // (25P03) or reset between two queries of a transaction emits 'error', which would end the
    // process. The query that next uses it fails instead, and the pool drops it on release.
    client.on("error", (error) => onConnectionError(error));
    closeOnQueryTimeout(client);
  });
  pool.on("remove", (client) => clients.delete(client));
  const db = drizzlePg(pool, { schema });
  db.transaction = (work, config) => transactionOnOwnClient(pool, work as PgTransactionWork, config);
  return {
    kind: "postgres",
    db: db as unknown as Database,
    description: `PostgreSQL ${redact(databaseUrl)}`,
    concurrentTransactionsMax: poolSize,
    tryWithAdvisoryLock: (key, work) => tryWithPgAdvisoryLock(pool, key, work),
    close: (deadlineMs) => closePool(pool, clients, deadlineMs),
  };
}

type PgDrizzle = NodePgDatabase<Schema>;
type PgTransactionWork = Parameters<PgDrizzle["transaction"]>[0];
/** A Drizzle handle per pooled connection, made once: for transactions (see transactionOnOwnClient). */
const drizzleOnClient = new WeakMap<pg.PoolClient, PgDrizzle>();

/**
 * A transaction on a connection Tally takes from the pool and always gives back. (Drizzle's own,
 * given a pool, sends BEGIN before its try block: a BEGIN that fails, e.g. on a lost or stalled
 * connection, never gives the connection back, and a few of those exhaust the pool for good.) A
 * connection that failed is given back with the error, so the pool drops it.
 */
async function transactionOnOwnClient<T>(pool: pg.Pool, work: PgTransactionWork, config: Parameters<PgDrizzle["transaction"]>[1]): Promise<T> {
  const client = await pool.connect();
  let db = drizzleOnClient.get(client);
  if (!db) {
    db = drizzlePg(client, { schema });
    drizzleOnClient.set(client, db);
  }
  let failure: Error | undefined;
  try {
    return (await db.transaction(work, config)) as T;
  } catch (error) {
    // Only a broken connection is dropped; a constraint violation or a serialization failure leaves it usable.
    if (isConnectionLost(error)) failure = error as Error;
    throw error;
  } finally {
    client.release(failure);
  }
}

/** Whether `error` came from a connection that is no longer usable (lost, timed out, closed). */
function isConnectionLost(error: unknown): boolean {
  return unavailableReason(error) !== undefined;
}

/**
 * Migrations run on a connection of their own, without the pool's statement and query timeouts:
 * building an index on a large table may take minutes, and waiting for another replica's migration
 * lock is expected. Connecting is still bounded.
 */
async function migratePostgres(databaseUrl: string, timeouts: DatabaseTimeouts): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: timeouts.connectTimeoutMs, application_name: "tally" });
  // Without a listener, a connection lost between two statements would end the process.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (cause) {
    await client.end().catch(() => {});
    throw new TallyError("Unavailable", `cannot connect to PostgreSQL at ${redact(databaseUrl)}: ${String(cause)}`, { cause });
  }
  try {
    await client.query("SELECT pg_advisory_lock($1)", [migrationLockKey]);
    try {
      await migratePg(drizzlePg(client, { schema }), { migrationsFolder });
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [migrationLockKey]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** pg's message when a query's answer did not come within query_timeout. */
const queryReadTimeoutMessage = "Query read timeout";

/**
 * pg gives up waiting on a query after query_timeout but keeps the connection: the answer may still
 * come, or never (a stalled network), and every later query on it would queue behind. Closing the
 * socket fails what is queued at once, and the pool drops the client when it is released.
 */
function closeOnQueryTimeout(client: pg.PoolClient): void {
  const socket = () => (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  const onError = (error: unknown) => {
    if (error instanceof Error && error.message === queryReadTimeoutMessage) socket()?.destroy();
  };
  const query = client.query;
  client.query = function (this: pg.PoolClient, ...args: unknown[]) {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (error: unknown, result: unknown) => {
        onError(error);
        (callback as (error: unknown, result: unknown) => void)(error, result);
      };
    }
    const result = (query as (...a: unknown[]) => unknown).apply(this, args);
    if (result instanceof Promise) result.catch(onError);
    return result;
  } as typeof client.query;
}

/**
 * Ends the pool: idle connections close at once, busy ones when their work releases them. At the
 * deadline the rest are cut (a stalled query would otherwise hold pool.end() forever).
 */
async function closePool(pool: pg.Pool, clients: Set<pg.PoolClient>, deadlineMs: number | undefined): Promise<void> {
  const ended = pool.end().catch(() => {});
  if (deadlineMs === undefined) return ended;
  if (await settlesBy(ended, deadlineMs)) return;
  for (const client of clients) {
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
  // Cut connections fail their queries at once; whoever holds them releases them soon after.
  await settlesBy(ended, performance.now() + closeAfterCutMs);
}

/** After cutting connections at the shutdown deadline, how long close() still waits for the pool. */
const closeAfterCutMs = 200;

async function tryWithPgAdvisoryLock<T>(
  pool: pg.Pool,
  key: bigint,
  work: () => Promise<T>,
): Promise<{ acquired: true; value: T } | { acquired: false }> {
  const client = await pool.connect();
  let broken = false;
  // The lock's session can die while the job runs (server restart, terminated backend). A checked-out
  // client reports that as an 'error' event, which would crash the process without a listener. The
  // lock is then gone and another replica may start the job: safe, as every job is idempotent.
  const onError = () => {
    broken = true;
  };
  client.on("error", onError);
  try {
    let locked: boolean;
    try {
      const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1::int8) AS locked", [key.toString()]);
      locked = rows[0]?.locked === true;
    } catch (error) {
      broken = true;
      throw error;
    }
    if (!locked) return { acquired: false };
    try {
      return { acquired: true, value: await work() };
    } finally {
      // If the unlock fails the connection is suspect: destroy it, which releases the lock too.
      await client.query("SELECT pg_advisory_unlock($1::int8)", [key.toString()]).catch(() => {
        broken = true;
      });
    }
  } finally {
    client.off("error", onError);
    client.release(broken);
  }
}

async function openPglite(dataDir: string, timeouts: DatabaseTimeouts): Promise<DatabaseHandle> {
  const memory = dataDir === "memory://";
  let releaseLock = () => {};
  if (!memory) {
    fs.mkdirSync(dataDir, { recursive: true });
    releaseLock = takeDataDirLock(dataDir);
  }
  try {
    useBaselineWasmCompiler();
    const pgDataDir = path.join(dataDir, "pglite");
    if (!memory && !isPgliteDataDir(pgDataDir)) await initPgliteDataDir(pgDataDir);
    const client = await PGlite.create(memory ? undefined : pgDataDir, {
      parsers: { 20: (value: string) => BigInt(value) },
      startParams: pgliteStartParams,
    });
    // Migrations without the operation deadline: one may rewrite a large table.
    await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
    const db = drizzlePglite(withOperationDeadlines(client, timeouts.queryTimeoutMs), { schema });
    return {
      kind: "pglite",
      db: db as unknown as Database,
      description: memory ? "embedded PGlite in memory" : `embedded PGlite in ${dataDir}`,
      concurrentTransactionsMax: 1,
      // One process owns the data directory (lock file), so there is nobody to contend with.
      tryWithAdvisoryLock: async (_key, work) => ({ acquired: true, value: await work() }),
      close: async (deadlineMs) => {
        // PGlite closes after the operation in progress; one that never ends must not hold the
        // shutdown, and the data directory's lock goes with the process either way.
        const closed = client.close();
        if (deadlineMs === undefined) await closed;
        else await settlesBy(closed, deadlineMs);
        releaseLock();
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
}

/**
 * PGlite runs one operation at a time: a transaction that does not end (a bug, a stuck await inside)
 * holds every other query. statement_timeout does not work there (no timers inside the engine), so
 * Tally bounds each operation itself: one not finished within `timeoutMs` is answered UNAVAILABLE,
 * and a transaction still waiting for its turn by then is cancelled before it starts, so that what
 * the caller was told (not done) stays true. (A query already running blocks the event loop until
 * it ends: nothing in-process can stop it.)
 */
function withOperationDeadlines(client: PGlite, timeoutMs: number): PGlite {
  const timeoutError = () =>
    new TallyError("Unavailable", `the embedded database is busy: the operation did not finish within ${timeoutMs} ms, try again later`);
  const query: PGlite["query"] = (text, params, options) => withDeadline(client.query(text, params, options), timeoutMs, timeoutError);
  const transaction: PGlite["transaction"] = (callback) => {
    let timedOut = false;
    const started = client.transaction((tx) => {
      if (timedOut) throw timeoutError();
      return callback(tx);
    });
    return withDeadline(started, timeoutMs, () => {
      timedOut = true;
      return timeoutError();
    });
  };
  // Everything else (close, exec, listen, ...) is PGlite's own, bound to it (it uses private fields).
  return new Proxy(client, {
    get(target, property) {
      if (property === "query") return query;
      if (property === "transaction") return transaction;
      const value: unknown = Reflect.get(target, property);
      return typeof value === "function" && property !== "constructor" ? value.bind(target) : value;
    },
  });
}

/**
 * PGlite is one process's database: two processes on one directory would corrupt it, and nothing in
 * PGlite stops that. A lock file holding the owner's pid does; a stale one (dead pid) is taken over.
 */
function takeDataDirLock(dataDir: string): () => void {
  const lockPath = path.join(dataDir, "tally.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: "wx" });
      return () => fs.rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(fs.readFileSync(lockPath, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new TallyError(
          "FailedPrecondition",
          `data directory ${dataDir} is in use by process ${owner}; stop it or set TALLY_DATA_DIR to another directory`,
        );
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new TallyError("FailedPrecondition", `cannot take the lock file ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function redact(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/** Round trip to the database, for readiness checks. */
export async function pingDatabase(db: Database): Promise<void> {
  await db.execute(sql`SELECT 1`);
}
