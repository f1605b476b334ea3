// A Gitpod database for one test file: a fresh MariaDB/MySQL database with the tables of
// GITPOD-DB.md, helpers to fill them the way Gitpod writes them (times as strings, '' for unset),
// dropped at the end. MariaDB runs on this machine kind at 127.0.0.1:3306 (root, no password);
// GITPOD_TEST_MYSQL_URL names another server (mysql://user:password@host:port).
//
// The harness writes through its own connection; Tally reads through its read-only pool.
import { randomBytes, randomUUID } from "node:crypto";
import mysql from "mysql2/promise";

export const gitpodTestServerUrl = process.env.GITPOD_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306";

/** The tables of GITPOD-DB.md, as Gitpod's migrations create them (the columns Tally reads, plus keys). */
export const gitpodSchema: readonly string[] = [
  `CREATE TABLE d_b_workspace_instance (
    id char(36) NOT NULL,
    workspaceId char(36) NOT NULL,
    usageAttributionId varchar(60) NOT NULL DEFAULT '',
    workspaceClass varchar(255) NOT NULL DEFAULT '',
    creationTime varchar(255) NOT NULL DEFAULT '',
    startedTime varchar(255) NOT NULL DEFAULT '',
    stoppingTime varchar(255) NOT NULL DEFAULT '',
    stoppedTime varchar(255) NOT NULL DEFAULT '',
    phasePersisted char(32) NOT NULL DEFAULT '',
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY ind_workspaceId (workspaceId),
    KEY ind_stoppingTime (stoppingTime),
    KEY ind_phasePersisted (phasePersisted),
    KEY ind_usageAttributionId (usageAttributionId)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_workspace (
    id char(36) NOT NULL,
    ownerId char(36) NOT NULL,
    projectId char(36) NULL,
    type char(16) NOT NULL DEFAULT 'regular',
    contextURL text NOT NULL,
    organizationId char(36) NOT NULL DEFAULT '',
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_user (
    id char(36) NOT NULL,
    name varchar(255) NOT NULL DEFAULT '',
    avatarUrl varchar(255) NOT NULL DEFAULT '',
    blocked tinyint NOT NULL DEFAULT 0,
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_team_membership (
    id char(36) NOT NULL,
    teamId char(36) NOT NULL,
    userId char(36) NOT NULL,
    role varchar(255) NOT NULL,
    creationTime varchar(255) NOT NULL,
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY ind_teamId (teamId),
    KEY ind_userId (userId)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_identity (
    authProviderId varchar(255) NOT NULL,
    authId varchar(255) NOT NULL,
    userId char(36) NOT NULL,
    primaryEmail varchar(255) NOT NULL DEFAULT '',
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (authProviderId, authId),
    KEY ind_userId (userId)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_free_credits (
    userId char(36) NOT NULL,
    email varchar(255) NOT NULL,
    organizationId char(36) NOT NULL,
    PRIMARY KEY (userId),
    UNIQUE KEY ind_email (email)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_cost_center (
    id varchar(255) NOT NULL,
    creationTime varchar(255) NOT NULL,
    spendingLimit int NOT NULL DEFAULT 0,
    billingStrategy varchar(255) NOT NULL DEFAULT 'other',
    billingCycleStart varchar(255) NOT NULL DEFAULT '',
    nextBillingTime varchar(255) NOT NULL DEFAULT '',
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id, creationTime)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_usage (
    id char(36) NOT NULL,
    attributionId varchar(255) NOT NULL,
    description varchar(255) NOT NULL DEFAULT '',
    creditCents bigint NOT NULL,
    effectiveTime varchar(255) NOT NULL,
    kind varchar(255) NOT NULL,
    workspaceInstanceId char(36) NULL,
    draft boolean NOT NULL DEFAULT 0,
    metadata text NULL,
    _created timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY ind_attributionId (attributionId),
    KEY ind_workspaceInstanceId (workspaceInstanceId),
    KEY ind_draft (draft)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE d_b_stripe_customer (
    stripeCustomerId varchar(255) NOT NULL,
    attributionId varchar(255) NOT NULL,
    creationTime varchar(255) NOT NULL,
    currency varchar(3) NOT NULL DEFAULT '',
    invalidBillingAddress tinyint NULL,
    deleted tinyint NOT NULL DEFAULT 0,
    _lastModified timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (stripeCustomerId),
    KEY ind_attributionId (attributionId)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];

/** A time as Gitpod stores it: `2006-01-02T15:04:05.000Z`; undefined is ''. */
export function gitpodTime(time: Date | undefined): string {
  return time ? time.toISOString() : "";
}

export interface GitpodInstanceRow {
  readonly id?: string;
  readonly workspaceId?: string;
  readonly usageAttributionId?: string;
  readonly workspaceClass?: string;
  readonly creationTime?: Date | string;
  readonly startedTime?: Date | string;
  readonly stoppingTime?: Date | string;
  readonly stoppedTime?: Date | string;
  readonly phasePersisted?: string;
  readonly deleted?: boolean;
  /** The workspace row written with it (unless `workspace: false`). */
  readonly ownerId?: string;
  readonly projectId?: string | null;
  readonly workspaceType?: string;
  readonly contextURL?: string;
  readonly organizationId?: string;
  readonly workspace?: boolean;
}

export interface GitpodUsageRow {
  readonly id?: string;
  readonly attributionId: string;
  readonly description?: string;
  readonly creditCents: bigint | number;
  readonly effectiveTime: Date | string;
  readonly kind?: "workspaceinstance" | "invoice" | "creditnote" | string;
  readonly workspaceInstanceId?: string | null;
  readonly draft?: boolean;
  readonly metadata?: unknown;
}

export interface GitpodCostCenterRow {
  readonly id: string;
  readonly creationTime: Date | string;
  readonly spendingLimit: number;
  readonly billingStrategy?: "stripe" | "other";
  readonly billingCycleStart?: Date | string;
  readonly nextBillingTime?: Date | string;
}

export interface GitpodStripeCustomerRow {
  readonly stripeCustomerId: string;
  readonly attributionId: string;
  readonly creationTime: Date | string;
  readonly currency?: string;
  readonly invalidBillingAddress?: boolean | null;
  readonly deleted?: boolean;
}

export interface GitpodTestDatabase {
  /** mysql://root@127.0.0.1:3306/<name>: give it to Tally as TALLY_GITPOD_DATABASE_URL. */
  readonly url: string;
  readonly name: string;
  /** A read-write connection for the test itself. */
  readonly connection: mysql.Connection;
  execute(statement: string, params?: unknown[]): Promise<void>;
  rows<T>(statement: string, params?: unknown[]): Promise<T[]>;
  insertInstances(rows: readonly GitpodInstanceRow[]): Promise<string[]>;
  insertUsers(rows: readonly { id: string; name?: string; avatarUrl?: string; deleted?: boolean }[]): Promise<void>;
  insertUsage(rows: readonly GitpodUsageRow[]): Promise<string[]>;
  insertCostCenters(rows: readonly GitpodCostCenterRow[]): Promise<void>;
  insertStripeCustomers(rows: readonly GitpodStripeCustomerRow[]): Promise<void>;
  insertTeamMemberships(rows: readonly { id?: string; teamId: string; userId: string; role: string; creationTime: Date | string; deleted?: boolean }[]): Promise<void>;
  insertIdentities(rows: readonly { authProviderId?: string; authId?: string; userId: string; primaryEmail: string; deleted?: boolean }[]): Promise<void>;
  insertFreeCredits(rows: readonly { userId: string; email: string; organizationId: string }[]): Promise<void>;
  drop(): Promise<void>;
}

const time = (value: Date | string | undefined) => (value instanceof Date ? gitpodTime(value) : (value ?? ""));

/** Rows per INSERT statement when filling big tables. */
const insertBatchRows = 2000;

export async function createGitpodTestDatabase(): Promise<GitpodTestDatabase> {
  const server = new URL(gitpodTestServerUrl);
  const name = `gitpod_test_${randomBytes(6).toString("hex")}`;
  const connection = await mysql.createConnection({
    host: server.hostname,
    port: server.port ? Number(server.port) : 3306,
    user: decodeURIComponent(server.username) || "root",
    password: decodeURIComponent(server.password),
    multipleStatements: false,
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  });
  await connection.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  await connection.query(`USE ${name}`);
  for (const statement of gitpodSchema) await connection.query(statement);
  const url = new URL(gitpodTestServerUrl);
  url.pathname = `/${name}`;
  if (!url.username) url.username = "root";

  const insert = async (table: string, columns: readonly string[], values: readonly unknown[][]) => {
    for (let start = 0; start < values.length; start += insertBatchRows) {
      const batch = values.slice(start, start + insertBatchRows);
      await connection.query(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ?`, [batch]);
    }
  };

  return {
    url: url.toString(),
    name,
    connection,
    async execute(statement, params) {
      await connection.query(statement, params);
    },
    async rows<T>(statement: string, params?: unknown[]) {
      const [rows] = await connection.query(statement, params);
      return rows as T[];
    },
    async insertInstances(rows) {
      const ids = rows.map((row) => row.id ?? randomUUID());
      const workspaceIds = rows.map((row) => row.workspaceId ?? randomUUID());
      await insert(
        "d_b_workspace_instance",
        ["id", "workspaceId", "usageAttributionId", "workspaceClass", "creationTime", "startedTime", "stoppingTime", "stoppedTime", "phasePersisted", "deleted"],
        rows.map((row, index) => [
          ids[index],
          workspaceIds[index],
          row.usageAttributionId ?? "",
          row.workspaceClass ?? "",
          time(row.creationTime),
          time(row.startedTime),
          time(row.stoppingTime),
          time(row.stoppedTime),
          row.phasePersisted ?? (row.stoppedTime ? "stopped" : row.stoppingTime ? "stopping" : row.startedTime ? "running" : "pending"),
          row.deleted ? 1 : 0,
        ]),
      );
      const workspaces = rows.map((row, index) => ({ row, workspaceId: workspaceIds[index]! })).filter(({ row }) => row.workspace !== false);
      await insert(
        "d_b_workspace",
        ["id", "ownerId", "projectId", "type", "contextURL", "organizationId"],
        workspaces.map(({ row, workspaceId }) => [
          workspaceId,
          row.ownerId ?? randomUUID(),
          row.projectId ?? null,
          row.workspaceType ?? "regular",
          row.contextURL ?? "https://github.com/gitpod-io/empty",
          row.organizationId ?? (row.usageAttributionId?.startsWith("team:") ? row.usageAttributionId.slice(5) : ""),
        ]),
      );
      return ids;
    },
    async insertUsers(rows) {
      await insert("d_b_user", ["id", "name", "avatarUrl", "deleted"], rows.map((row) => [row.id, row.name ?? "", row.avatarUrl ?? "", row.deleted ? 1 : 0]));
    },
    async insertUsage(rows) {
      const ids = rows.map((row) => row.id ?? randomUUID());
      await insert(
        "d_b_usage",
        ["id", "attributionId", "description", "creditCents", "effectiveTime", "kind", "workspaceInstanceId", "draft", "metadata"],
        rows.map((row, index) => [
          ids[index],
          row.attributionId,
          row.description ?? "",
          String(row.creditCents),
          time(row.effectiveTime),
          row.kind ?? "workspaceinstance",
          row.workspaceInstanceId ?? null,
          row.draft ? 1 : 0,
          row.metadata === undefined ? null : typeof row.metadata === "string" ? row.metadata : JSON.stringify(row.metadata),
        ]),
      );
      return ids;
    },
    async insertCostCenters(rows) {
      await insert(
        "d_b_cost_center",
        ["id", "creationTime", "spendingLimit", "billingStrategy", "billingCycleStart", "nextBillingTime"],
        rows.map((row) => [row.id, time(row.creationTime), row.spendingLimit, row.billingStrategy ?? "other", time(row.billingCycleStart), time(row.nextBillingTime)]),
      );
    },
    async insertStripeCustomers(rows) {
      await insert(
        "d_b_stripe_customer",
        ["stripeCustomerId", "attributionId", "creationTime", "currency", "invalidBillingAddress", "deleted"],
        rows.map((row) => [
          row.stripeCustomerId,
          row.attributionId,
          time(row.creationTime),
          row.currency ?? "",
          row.invalidBillingAddress === undefined || row.invalidBillingAddress === null ? null : row.invalidBillingAddress ? 1 : 0,
          row.deleted ? 1 : 0,
        ]),
      );
    },
    async insertTeamMemberships(rows) {
      await insert(
        "d_b_team_membership",
        ["id", "teamId", "userId", "role", "creationTime", "deleted"],
        rows.map((row) => [row.id ?? randomUUID(), row.teamId, row.userId, row.role, time(row.creationTime), row.deleted ? 1 : 0]),
      );
    },
    async insertIdentities(rows) {
      await insert(
        "d_b_identity",
        ["authProviderId", "authId", "userId", "primaryEmail", "deleted"],
        rows.map((row) => [row.authProviderId ?? "Public-GitHub", row.authId ?? randomUUID(), row.userId, row.primaryEmail, row.deleted ? 1 : 0]),
      );
    },
    async insertFreeCredits(rows) {
      await insert("d_b_free_credits", ["userId", "email", "organizationId"], rows.map((row) => [row.userId, row.email, row.organizationId]));
    },
    async drop() {
      try {
        await connection.query(`DROP DATABASE IF EXISTS ${name}`);
      } finally {
        await connection.end();
      }
    },
  };
}
