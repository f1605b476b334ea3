// Workspace instances as Gitpod's usage component selects them (GITPOD-DB.md), read in pages from
// Gitpod's database and turned into the reports Tally's standalone path validates and stores, so
// both paths book an instance the same way.
//
// The three selections (each requires a started time and an attribution id):
// - `stopped`: stoppingTime in [from, to) (string comparison: the format is fixed), paged by
//   (stoppingTime, id);
// - `running`: phasePersisted 'running', no stoppingTime, started after `runningSince`, paged by id;
// - by id: the instances that have a draft in Tally's ledger (the caller pages those ids).
// Soft-deleted rows (deleted = 1) are absent: a deleted instance is not read, a deleted workspace or
// user is as if not found.
import { TallyError } from "../domain/tally-error.js";
import { validateInstanceReport, type InstanceReport } from "../domain/workspace-instance.js";
import type { GitpodDatabase, SqlValue } from "./gitpod-database.js";

export type GitpodStream = "stopped" | "running";

/** The position after the last row of a page. */
export interface GitpodCursor {
  readonly stoppingTime: string;
  readonly id: string;
}

/** One row of the existing component's query shape. */
export interface GitpodInstanceRow {
  id: string;
  workspaceId: string;
  usageAttributionId: string;
  workspaceClass: string;
  creationTime: string;
  startedTime: string;
  stoppingTime: string;
  stoppedTime: string;
  ownerId: string | null;
  projectId: string | null;
  contextURL: string | null;
  workspaceType: string | null;
  userName: string | null;
  userAvatarUrl: string | null;
}

/** A row Tally would refuse (the standalone path refuses the same report), with the reason. */
export interface RefusedInstance {
  readonly id: string;
  readonly reason: string;
}

export interface GitpodInstancePage {
  readonly reports: InstanceReport[];
  readonly refused: RefusedInstance[];
  /** Rows read (billable by the selection, before validation). */
  readonly read: number;
  readonly next: GitpodCursor | undefined;
}

/** Which of the tables carry Gitpod's soft-delete column (older installations may lack some). */
export interface GitpodSchemaShape {
  readonly instanceDeleted: boolean;
  readonly workspaceDeleted: boolean;
  readonly userDeleted: boolean;
}

export async function probeGitpodSchema(gitpod: GitpodDatabase): Promise<GitpodSchemaShape> {
  const rows = await gitpod.query<{ table: string }>(
    `SELECT TABLE_NAME AS \`table\` FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'deleted' AND TABLE_NAME IN ('d_b_workspace_instance', 'd_b_workspace', 'd_b_user')`,
  );
  const tables = new Set(rows.map((row) => row.table));
  return {
    instanceDeleted: tables.has("d_b_workspace_instance"),
    workspaceDeleted: tables.has("d_b_workspace"),
    userDeleted: tables.has("d_b_user"),
  };
}

function selectInstances(shape: GitpodSchemaShape): string {
  return `SELECT wsi.id, wsi.workspaceId, wsi.usageAttributionId, wsi.workspaceClass, wsi.creationTime, wsi.startedTime,
      wsi.stoppingTime, wsi.stoppedTime, ws.ownerId, ws.projectId, ws.contextURL, ws.type AS workspaceType,
      u.name AS userName, u.avatarUrl AS userAvatarUrl
    FROM d_b_workspace_instance wsi
    LEFT JOIN d_b_workspace ws ON wsi.workspaceId = ws.id${shape.workspaceDeleted ? " AND ws.deleted = 0" : ""}
    LEFT JOIN d_b_user u ON ws.ownerId = u.id${shape.userDeleted ? " AND u.deleted = 0" : ""}
    WHERE wsi.startedTime != '' AND wsi.usageAttributionId != ''${shape.instanceDeleted ? " AND wsi.deleted = 0" : ""}`;
}

export interface GitpodWindow {
  readonly from: Date;
  readonly to: Date;
  readonly runningSince: Date;
}

/** One page of a stream, in index order. */
export async function gitpodInstancePage(
  gitpod: GitpodDatabase,
  shape: GitpodSchemaShape,
  stream: GitpodStream,
  window: GitpodWindow,
  after: GitpodCursor | undefined,
  pageSize: number,
  now: Date,
): Promise<GitpodInstancePage> {
  let statement = selectInstances(shape);
  const params: SqlValue[] = [];
  if (stream === "stopped") {
    statement += " AND wsi.stoppingTime != '' AND wsi.stoppingTime >= ? AND wsi.stoppingTime < ?";
    params.push(gitpodTimeText(window.from), gitpodTimeText(window.to));
    if (after) {
      statement += " AND (wsi.stoppingTime > ? OR (wsi.stoppingTime = ? AND wsi.id > ?))";
      params.push(after.stoppingTime, after.stoppingTime, after.id);
    }
    statement += " ORDER BY wsi.stoppingTime, wsi.id LIMIT ?";
  } else {
    statement += " AND wsi.phasePersisted = 'running' AND wsi.stoppingTime = '' AND wsi.startedTime > ?";
    params.push(gitpodTimeText(window.runningSince));
    if (after) {
      statement += " AND wsi.id > ?";
      params.push(after.id);
    }
    statement += " ORDER BY wsi.id LIMIT ?";
  }
  params.push(pageSize);
  const rows = await gitpod.query<GitpodInstanceRow>(statement, params);
  const last = rows[rows.length - 1];
  return {
    ...toReports(rows, now),
    read: rows.length,
    next: last && rows.length === pageSize ? { stoppingTime: last.stoppingTime, id: last.id } : undefined,
  };
}

/** The instances with these ids (those with a draft in Tally), as reports. */
export async function gitpodInstancesById(
  gitpod: GitpodDatabase,
  shape: GitpodSchemaShape,
  ids: readonly string[],
  now: Date,
): Promise<Omit<GitpodInstancePage, "next">> {
  if (ids.length === 0) return { reports: [], refused: [], read: 0 };
  const rows = await gitpod.query<GitpodInstanceRow>(`${selectInstances(shape)} AND wsi.id IN (?)`, [ids]);
  return { ...toReports(rows, now), read: rows.length };
}

/** Gitpod's time text of a Date: `2006-01-02T15:04:05.000Z`. */
export function gitpodTimeText(time: Date): string {
  return time.toISOString();
}

const gitpodTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** A time column: '' is unset; anything but Gitpod's format is refused, naming the column. */
export function parseGitpodTime(value: string | null | undefined, column: string): Date | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  const time = new Date(value);
  if (!gitpodTimePattern.test(value) || Number.isNaN(time.getTime())) {
    throw new TallyError("InvalidArgument", `${column} ${JSON.stringify(value)} is not a time like 2006-01-02T15:04:05.000Z`);
  }
  return time;
}

/** Gitpod's '' class is the class named `default` (GITPOD-DB.md). */
export const gitpodDefaultWorkspaceClass = "default";

function toReports(rows: readonly GitpodInstanceRow[], now: Date): { reports: InstanceReport[]; refused: RefusedInstance[] } {
  const reports: InstanceReport[] = [];
  const refused: RefusedInstance[] = [];
  for (const row of rows) {
    try {
      reports.push(toReport(row, now));
    } catch (error) {
      if (!(error instanceof TallyError)) throw error;
      refused.push({ id: row.id, reason: error.message });
    }
  }
  return { reports, refused };
}

export function toReport(row: GitpodInstanceRow, now: Date): InstanceReport {
  const name = `d_b_workspace_instance ${row.id}`;
  return validateInstanceReport(
    {
      id: row.id,
      workspaceId: row.workspaceId,
      attributionId: row.usageAttributionId,
      userId: row.ownerId ?? "",
      workspaceClass: row.workspaceClass === "" ? gitpodDefaultWorkspaceClass : row.workspaceClass,
      workspaceType: row.workspaceType ?? "",
      creationTime: parseGitpodTime(row.creationTime, `${name}.creationTime`),
      startedTime: parseGitpodTime(row.startedTime, `${name}.startedTime`),
      stoppingTime: parseGitpodTime(row.stoppingTime, `${name}.stoppingTime`),
      stoppedTime: parseGitpodTime(row.stoppedTime, `${name}.stoppedTime`),
      projectId: row.projectId ?? "",
      contextUrl: row.contextURL ?? "",
      userName: row.userName ?? "",
      userAvatarUrl: row.userAvatarUrl ?? "",
    },
    name,
    now,
  );
}
