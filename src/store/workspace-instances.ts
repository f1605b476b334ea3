// Workspace instances: the batched upsert of reports, reads by id, and the pages of instances that
// ReconcileUsage considers, each joined with its ledger entry.
//
// Hot paths send a whole batch in one statement with a fixed number of parameters (arrays expanded
// with unnest, or one JSON document with jsonb_to_recordset), the same SQL on PostgreSQL and PGlite.
import { eq, sql, type SQL } from "drizzle-orm";
import type { ExistingInstanceEntry, ReconciliationCandidate } from "../domain/reconciliation.js";
import type { InstanceReport, WorkspaceInstance, WorkspaceType } from "../domain/workspace-instance.js";
import type { Database } from "./database.js";
import { dateFromEpochSeconds, epochMicros, epochMsArray, epochMsTime, timestamptzLiteral } from "./epoch-time.js";
import { plainArray, textArray } from "./pg-arrays.js";
import { affectedRows, rowsOf } from "./raw-result.js";
import { inTransaction } from "./transactions.js";
import { instanceKeyedIn, workspaceInstances } from "./schema.js";

/**
 * Upserts reports (one per id, sorted by id so concurrent batches lock rows in the same order) in
 * one statement. A value a report leaves out (null here) keeps the stored one; strings are kept when
 * the report has none. Returns the number of instances written.
 */
export async function upsertInstances(db: Database, reports: readonly InstanceReport[], now: Date): Promise<number> {
  if (reports.length === 0) return 0;
  const times = (pick: (report: InstanceReport) => Date | undefined) => epochMsArray(reports.map(pick));
  // One array literal per column (pg-arrays.ts): PostgreSQL parses arrays faster than it takes a JSON
  // document apart, and the statement's size does not grow with the batch (no per-row parameters).
  const plain = (pick: (report: InstanceReport) => string | null | undefined) => plainArray(reports.map(pick));
  const text = (pick: (report: InstanceReport) => string | null | undefined) => textArray(reports.map(pick));
  const keep = (name: string) => sql.raw(`coalesce(excluded.${name}, workspace_instances.${name})`);
  const keepText = (name: string) => sql.raw(`coalesce(nullif(excluded.${name}, ''), workspace_instances.${name})`);
  const result = await db.execute(sql`
    INSERT INTO workspace_instances (
      id, attribution_id, workspace_id, user_id, workspace_class, workspace_type,
      creation_time, started_time, stopping_time, stopped_time,
      project_id, context_url, user_name, user_avatar_url, reported_at)
    SELECT x.id, x.attribution_id, x.workspace_id, x.user_id, coalesce(x.workspace_class, ''), x.workspace_type,
      ${epochMsTime(sql`x.creation_time`)}, ${epochMsTime(sql`x.started_time`)}, ${epochMsTime(sql`x.stopping_time`)}, ${epochMsTime(sql`x.stopped_time`)},
      coalesce(x.project_id, ''), coalesce(x.context_url, ''), coalesce(x.user_name, ''), coalesce(x.user_avatar_url, ''),
      ${now.toISOString()}::timestamptz
    FROM unnest(
      ${plain((r) => r.id)}::uuid[], ${text((r) => r.attributionId)}::text[], ${text((r) => r.workspaceId)}::text[],
      ${plain((r) => r.userId)}::uuid[], ${text((r) => r.workspaceClass)}::text[],
      ${text((r) => r.workspaceType)}::text[], ${times((r) => r.creationTime)}::float8[],
      ${times((r) => r.startedTime)}::float8[], ${times((r) => r.stoppingTime)}::float8[],
      ${times((r) => r.stoppedTime)}::float8[], ${text((r) => r.projectId)}::text[],
      ${text((r) => r.contextUrl)}::text[], ${text((r) => r.userName)}::text[],
      ${text((r) => r.userAvatarUrl)}::text[]
    ) AS x(id, attribution_id, workspace_id, user_id, workspace_class, workspace_type,
      creation_time, started_time, stopping_time, stopped_time, project_id, context_url, user_name, user_avatar_url)
    ORDER BY x.id
    ON CONFLICT (id) DO UPDATE SET
      attribution_id = ${keep("attribution_id")},
      workspace_id = ${keepText("workspace_id")},
      user_id = ${keep("user_id")},
      workspace_class = ${keepText("workspace_class")},
      workspace_type = ${keep("workspace_type")},
      creation_time = ${keep("creation_time")},
      started_time = ${keep("started_time")},
      stopping_time = ${keep("stopping_time")},
      stopped_time = ${keep("stopped_time")},
      project_id = ${keepText("project_id")},
      context_url = ${keepText("context_url")},
      user_name = ${keepText("user_name")},
      user_avatar_url = ${keepText("user_avatar_url")},
      reported_at = excluded.reported_at`);
  return affectedRows(result);
}

export async function getInstance(db: Database, id: string): Promise<WorkspaceInstance | undefined> {
  const [row] = await db.select().from(workspaceInstances).where(eq(workspaceInstances.id, id));
  return row ? toInstance(row) : undefined;
}

/** The position after the last instance a page read (a candidate or one passed over); the next page starts after it. */
export interface CandidateCursor {
  /** The stream's time of that instance, to the microsecond, as a timestamptz literal. */
  readonly time: string | undefined;
  readonly id: string;
}

/**
 * The streams of instances ReconcileUsage considers (SPEC.md Part B), each paged in index order:
 * - `drafts`: instances whose entry is a draft (c);
 * - `stopped`: instances whose stop (stopping time, else stopped time) is in [from, to) (a), unless
 *   their entry is already final;
 * - `running`: no stop yet, started at or after `runningSince`, and no entry yet: those with a
 *   draft were just met by the drafts stream (b);
 * - `reportedStopped`: stopped outside [from, to) but reported in it and not final yet, so a stop
 *   that arrived late is still booked (Tally's addition).
 * Streams overlap only where harmless: an instance met twice plans no second write.
 */
export type CandidateStream = "drafts" | "stopped" | "running" | "reportedStopped";
export const candidateStreams: readonly CandidateStream[] = ["drafts", "stopped", "running", "reportedStopped"];

export interface CandidateWindow {
  readonly from: Date;
  readonly to: Date;
  readonly runningSince: Date;
}

export interface CandidatePage {
  readonly candidates: ReconciliationCandidate[];
  /** Undefined when the stream has no more pages. */
  readonly next: CandidateCursor | undefined;
}

const stopTime = sql`coalesce(wi.stopping_time, wi.stopped_time)`;

/** A page reads at most this many pages of instances looking for a page of candidates. */
export const candidateScanPagesMax = 10;

/**
 * Which scanned instances a stream passes over, by the entry joined to each (an instance has at most
 * one: usage_instance_key_idx is unique). Stopped instances whose entry is final need nothing more
 * (overlapping windows meet them again); running instances with an entry have a draft, which the
 * drafts stream (run first) took care of.
 */
const finalEntry = sql`u.id IS NOT NULL AND NOT u.draft`;
const passedOver: Record<Exclude<CandidateStream, "drafts">, SQL> = {
  stopped: finalEntry,
  running: sql`u.id IS NOT NULL`,
  reportedStopped: finalEntry,
};

export async function candidatePage(
  db: Database,
  stream: CandidateStream,
  window: CandidateWindow,
  after: CandidateCursor | undefined,
  pageSize: number,
): Promise<CandidatePage> {
  const from = window.from.toISOString();
  const to = window.to.toISOString();
  let where: SQL;
  let orderBy: SQL;
  let cursorTime: SQL | undefined;
  switch (stream) {
    case "drafts":
      return draftsPage(db, after, pageSize);
    case "stopped":
      where = sql`${stopTime} >= ${from}::timestamptz AND ${stopTime} < ${to}::timestamptz${
        after ? sql` AND (${stopTime}, wi.id) > (${after.time!}::timestamptz, ${after.id}::uuid)` : sql``
      }`;
      orderBy = sql`${stopTime}, wi.id`;
      cursorTime = stopTime;
      break;
    case "running":
      where = sql`wi.stopping_time IS NULL AND wi.stopped_time IS NULL AND wi.started_time >= ${window.runningSince.toISOString()}::timestamptz${
        after ? sql` AND wi.id > ${after.id}::uuid` : sql``
      }`;
      orderBy = sql`wi.id`;
      break;
    case "reportedStopped":
      where = sql`wi.reported_at >= ${from}::timestamptz AND wi.reported_at < ${to}::timestamptz
        AND ${stopTime} IS NOT NULL AND NOT (${stopTime} >= ${from}::timestamptz AND ${stopTime} < ${to}::timestamptz)${
          after ? sql` AND (wi.reported_at, wi.id) > (${after.time!}::timestamptz, ${after.id}::uuid)` : sql``
        }`;
      orderBy = sql`wi.reported_at, wi.id`;
      cursorTime = sql`wi.reported_at`;
      break;
  }
  // The page is cut from the instances first (ordered index scan, LIMIT), then joined to the ledger.
  // Those the stream passes over are dropped after the join, not filtered in the scan, so a statement
  // reads at most `candidateScanPagesMax` pages of instances however many of the window's are booked
  // (a window holding a bulk import of a million booked instances took one statement past
  // statement_timeout). Rows are pulled only until a page of candidates is found, so a window of
  // instances to book reads a page (and one row more). The last instance read comes back even when
  // passed over: its position is the next cursor.
  const order = cursorTime ? sql`p.cursor_time, p.id` : sql`p.id`;
  const scanLimit = pageSize * candidateScanPagesMax;
  const query = sql`
    SELECT ${candidateInstanceColumns("j")}, date_part('epoch', j.cursor_time) AS cursor_time,
      j.entry_id, j.entry_attribution_id, j.entry_credit_cents, j.entry_draft,
      date_part('epoch', j.entry_effective_time) AS entry_effective_time, j.entry_workspace_class, j.entry_user_id,
      j.passed_over, j.scanned, j.scanned_last
    FROM (
      SELECT p.*, u.id AS entry_id, u.attribution_id AS entry_attribution_id, u.credit_cents AS entry_credit_cents,
        u.draft AS entry_draft, u.effective_time AS entry_effective_time,
        u.metadata ->> 'workspaceClass' AS entry_workspace_class, u.metadata ->> 'userId' AS entry_user_id,
        ${passedOver[stream]} AS passed_over, (row_number() OVER w)::int4 AS scanned, lead(p.id) OVER w IS NULL AS scanned_last
      FROM (
        SELECT wi.*, ${cursorTime ?? sql`NULL::timestamptz`} AS cursor_time
        FROM workspace_instances wi
        WHERE wi.started_time IS NOT NULL AND wi.attribution_id IS NOT NULL AND ${where}
        ORDER BY ${orderBy}
        LIMIT ${scanLimit}
      ) p
      -- A probe of usage_instance_key_idx per instance, whatever the statistics: LATERAL with LIMIT 1
      -- (at most one entry matches) is never flattened into a join. A plain join let the planner,
      -- taking the partial index for nearly empty before ANALYZE, read all of it into a Materialize
      -- and filter it for every instance (seconds a page in a 100,000-instance reconcile).
      LEFT JOIN LATERAL (
        SELECT u.id, u.attribution_id, u.credit_cents, u.draft, u.effective_time, u.metadata FROM usage u
        WHERE u.workspace_instance_id = p.id AND ${instanceKeyedIn("u")}
        LIMIT 1
      ) u ON true
      WINDOW w AS (ORDER BY ${order})
    ) j
    WHERE NOT j.passed_over OR j.scanned_last
    ORDER BY ${cursorTime ? sql`j.cursor_time, j.id` : sql`j.id`}
    LIMIT ${pageSize}`;
  const result = await readPage(db, query);
  const rows = rowsOf<CandidateRow & { passed_over: boolean; scanned: number; scanned_last: boolean }>(result);
  const candidates = rows.filter((row) => !row.passed_over).map(toCandidate);
  const last = rows[rows.length - 1];
  // More may follow the last row unless it is the last of the window: read, and short of the limit.
  const more = last !== undefined && (!last.scanned_last || Number(last.scanned) === scanLimit);
  return {
    candidates,
    next: more ? { time: last.cursor_time === null ? undefined : timestamptzLiteral(epochMicros(last.cursor_time)), id: last.id } : undefined,
  };
}

/**
 * A page of drafts, walked in the order of the ledger's partial index of drafts: the page is cut
 * from the drafts first (so the plan is an ordered scan of that index, whatever the statistics say
 * about the join), then joined to the instances. A draft without a billable instance row is
 * passed over, but still moves the cursor.
 */
async function draftsPage(db: Database, after: CandidateCursor | undefined, pageSize: number): Promise<CandidatePage> {
  const result = await readPage(db, sql`
    SELECT ${candidateInstanceColumns("wi")}, NULL::float8 AS cursor_time, d.workspace_instance_id AS draft_instance_id,
      d.id AS entry_id, d.attribution_id AS entry_attribution_id, d.credit_cents AS entry_credit_cents,
      d.draft AS entry_draft, date_part('epoch', d.effective_time) AS entry_effective_time,
      d.workspace_class AS entry_workspace_class, d.user_id AS entry_user_id
    FROM (
      SELECT id, workspace_instance_id, attribution_id, credit_cents, draft, effective_time,
        metadata ->> 'workspaceClass' AS workspace_class, metadata ->> 'userId' AS user_id
      FROM usage
      WHERE draft AND workspace_instance_id ${after ? sql`> ${after.id}::uuid` : sql`IS NOT NULL`}
      ORDER BY workspace_instance_id
      LIMIT ${pageSize}
    ) d
    LEFT JOIN workspace_instances wi ON wi.id = d.workspace_instance_id
    ORDER BY d.workspace_instance_id`);
  const rows = rowsOf<CandidateRow & { draft_instance_id: string }>(result);
  const last = rows[rows.length - 1];
  return {
    candidates: rows.filter((row) => row.id !== null && row.started_time !== null && row.attribution_id !== null).map(toCandidate),
    next: last && rows.length === pageSize ? { time: undefined, id: last.draft_instance_id } : undefined,
  };
}

/**
 * Runs a page read with the planner kept to the plan keyset paging needs: an ordered index scan that
 * stops after one page, and per-row index probes for the joins. On a table whose statistics lag
 * behind (new, or just bulk-loaded) the planner otherwise estimates a handful of matches and picks a
 * bitmap scan plus sort of everything after the cursor, so every page reads the rest of the stream,
 * quadratic in its length (measured: 110 ms instead of 3 ms a page at 50,000 instances), or hashes
 * the whole ledger. The settings hold for this one read-only transaction.
 */
async function readPage(db: Database, query: SQL): Promise<unknown> {
  return inTransaction(db, async (tx) => {
    await tx.execute(sql`SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true),
      set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`);
    return tx.execute(query);
  });
}

/**
 * The instance columns of a candidate row from the table or subquery `alias`, its times as float8
 * Unix seconds: the driver reads a number where a timestamptz costs it a Date parsed from text
 * (0.7 µs each, six per row), and dateFromEpochSeconds recovers the exact time.
 */
function candidateInstanceColumns(alias: string): SQL {
  const time = (column: string) => `date_part('epoch', ${alias}.${column}) AS ${column}`;
  return sql.raw(
    `${alias}.id, ${alias}.attribution_id, ${alias}.workspace_id, ${alias}.user_id, ${alias}.workspace_class, ${alias}.workspace_type, ` +
      `${time("creation_time")}, ${time("started_time")}, ${time("stopping_time")}, ${time("stopped_time")}, ` +
      `${alias}.project_id, ${alias}.context_url, ${alias}.user_name, ${alias}.user_avatar_url`,
  );
}

/** A candidate row's instance columns, times in Unix seconds (candidateInstanceColumns). */
interface InstanceRow {
  id: string;
  attribution_id: string | null;
  workspace_id: string;
  user_id: string | null;
  workspace_class: string;
  workspace_type: string | null;
  creation_time: number | null;
  started_time: number | null;
  stopping_time: number | null;
  stopped_time: number | null;
  project_id: string;
  context_url: string;
  user_name: string;
  user_avatar_url: string;
}

interface CandidateRow extends InstanceRow {
  cursor_time: number | null;
  entry_id: string | null;
  entry_attribution_id: string | null;
  entry_credit_cents: bigint | string | number | null;
  entry_draft: boolean | null;
  entry_effective_time: number | null;
  entry_workspace_class: string | null;
  entry_user_id: string | null;
}

function toCandidate(row: CandidateRow): ReconciliationCandidate {
  const existing: ExistingInstanceEntry | undefined =
    row.entry_id === null
      ? undefined
      : {
          entryId: row.entry_id,
          attributionId: row.entry_attribution_id!,
          creditCents: BigInt(row.entry_credit_cents!),
          draft: row.entry_draft!,
          effectiveTime: dateFromEpochSeconds(row.entry_effective_time!),
          workspaceClass: row.entry_workspace_class,
          userId: row.entry_user_id,
        };
  return {
    instance: {
      id: row.id,
      workspaceId: row.workspace_id,
      attributionId: row.attribution_id ?? undefined,
      userId: row.user_id ?? undefined,
      workspaceClass: row.workspace_class,
      workspaceType: (row.workspace_type as WorkspaceType | null) ?? undefined,
      creationTime: optionalEpochDate(row.creation_time),
      startedTime: optionalEpochDate(row.started_time),
      stoppingTime: optionalEpochDate(row.stopping_time),
      stoppedTime: optionalEpochDate(row.stopped_time),
      projectId: row.project_id,
      contextUrl: row.context_url,
      userName: row.user_name,
      userAvatarUrl: row.user_avatar_url,
    },
    existing,
  };
}

function toInstance(row: typeof workspaceInstances.$inferSelect): WorkspaceInstance {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    attributionId: row.attributionId ?? undefined,
    userId: row.userId ?? undefined,
    workspaceClass: row.workspaceClass,
    workspaceType: row.workspaceType ?? undefined,
    creationTime: row.creationTime ?? undefined,
    startedTime: row.startedTime ?? undefined,
    stoppingTime: row.stoppingTime ?? undefined,
    stoppedTime: row.stoppedTime ?? undefined,
    projectId: row.projectId,
    contextUrl: row.contextUrl,
    userName: row.userName,
    userAvatarUrl: row.userAvatarUrl,
  };
}

function optionalEpochDate(seconds: number | null): Date | undefined {
  return seconds === null ? undefined : dateFromEpochSeconds(seconds);
}
