// Each test file gets its own database: a fresh PostgreSQL database when DATABASE_URL is set
// (created here, dropped at the end), otherwise a fresh PGlite directory. Nothing is shared
// between runs, and nothing depends on what an earlier run left.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

export interface TestDatabase {
  readonly kind: "postgres" | "pglite";
  /** Set for PostgreSQL. */
  readonly databaseUrl: string | undefined;
  /** A fresh directory for PGlite. */
  readonly dataDir: string;
  drop(): Promise<void>;
}

export const testStoreKind: "postgres" | "pglite" = process.env.DATABASE_URL ? "postgres" : "pglite";

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-test-"));
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    return {
      kind: "pglite",
      databaseUrl: undefined,
      dataDir,
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `tally_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    kind: "postgres",
    databaseUrl: url.toString(),
    dataDir,
    drop: async () => {
      await withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function withAdmin(adminUrl: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
