// The one file that knows PGlite from pg. Everything else takes the typed `Database` handle.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { sql } from "drizzle-orm";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { TallyError } from "../domain/tally-error.js";
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
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL connection string; when absent, embedded PGlite in `dataDir`. */
  readonly databaseUrl?: string | undefined;
  readonly dataDir: string;
  /** Connections in the pool (PostgreSQL only). */
  readonly poolSize?: number;
}

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), "migrations");
/** Arbitrary, fixed: the advisory lock that serialises migrations across replicas. */
const migrationLockKey = 7_411_001;

// int8 comes back as a string from pg and a number from PGlite; both must be exact bigints.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => BigInt(value));

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options.poolSize ?? 10) : openPglite(options.dataDir);
}

async function openPostgres(databaseUrl: string, poolSize: number): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: poolSize,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: "tally",
  });
  // An idle client that loses its connection emits here; without a listener the process would crash.
  pool.on("error", () => {});
  const client = await pool.connect().catch((cause: unknown) => {
    void pool.end();
    throw new TallyError("Unavailable", `cannot connect to PostgreSQL at ${redact(databaseUrl)}: ${String(cause)}`, { cause });
  });
  try {
    await client.query("SELECT pg_advisory_lock($1)", [migrationLockKey]);
    try {
      await migratePg(drizzlePg(client, { schema }), { migrationsFolder });
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [migrationLockKey]);
    }
  } finally {
    client.release();
  }
  const db = drizzlePg(pool, { schema }) as unknown as Database;
  return {
    kind: "postgres",
    db,
    description: `PostgreSQL ${redact(databaseUrl)}`,
    concurrentTransactionsMax: poolSize,
    tryWithAdvisoryLock: (key, work) => tryWithPgAdvisoryLock(pool, key, work),
    close: () => pool.end(),
  };
}

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

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
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
    const db = drizzlePglite(client, { schema });
    await migratePglite(db, { migrationsFolder });
    return {
      kind: "pglite",
      db: db as unknown as Database,
      description: memory ? "embedded PGlite in memory" : `embedded PGlite in ${dataDir}`,
      concurrentTransactionsMax: 1,
      // One process owns the data directory (lock file), so there is nobody to contend with.
      tryWithAdvisoryLock: async (_key, work) => ({ acquired: true, value: await work() }),
      close: async () => {
        await client.close();
        releaseLock();
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
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
