// The Gitpod source: before each ReconcileUsage (the ledger job's and the RPC's), the instances
// Gitpod's usage component would consider are read from Gitpod's database and stored in Tally's
// workspace_instances exactly as if the platform had reported them through the API. The
// reconciler then books them on the standalone path, so:
// - an entry from Gitpod's data is the entry the standalone path books for the same instance;
// - an instance seen through both (API and Gitpod) is one row and one ledger entry (source key
//   `instance:<id>`), whatever the order;
// - a run that fails half-way (Gitpod's database gone) has stored some pages; the next run reads the
//   window again from the last success, and storing a page twice changes nothing.
import { sql } from "drizzle-orm";
import { instanceKeyedIn } from "../store/schema.js";
import type { Logger } from "../logger.js";
import { mergeReports, type InstanceReport } from "../domain/workspace-instance.js";
import type { Database } from "../store/database.js";
import { rowsOf } from "../store/raw-result.js";
import { upsertInstances } from "../store/workspace-instances.js";
import type { GitpodDatabase } from "./gitpod-database.js";
import {
  gitpodInstancePage,
  gitpodInstancesById,
  probeGitpodSchema,
  type GitpodCursor,
  type GitpodSchemaShape,
  type GitpodStream,
  type GitpodWindow,
  type RefusedInstance,
} from "./gitpod-instances.js";

/** Rows per read from Gitpod's database (and per write into Tally's). */
export const gitpodPageSizeDefault = 1000;
/** Refused instances named in a summary (all are logged). */
const refusedListedMax = 20;

export interface GitpodSyncSummary {
  /** Rows read from Gitpod's database (an instance met by two selections counts twice). */
  readonly read: number;
  /** Instances stored in Tally's workspace_instances (new or changed). */
  readonly stored: number;
  /** Instances skipped because their entry in Tally is already final. */
  readonly alreadyFinal: number;
  /** Rows Tally refuses (as the API would refuse the same report), with the reason. */
  readonly refused: number;
  readonly refusedExamples: readonly RefusedInstance[];
}

export interface GitpodSourceDeps {
  readonly gitpod: GitpodDatabase;
  readonly db: Database;
  readonly logger?: Logger;
  readonly pageSize?: number;
}

export class GitpodInstanceSource {
  private shape: GitpodSchemaShape | undefined;
  private readonly pageSize: number;

  constructor(private readonly deps: GitpodSourceDeps) {
    this.pageSize = deps.pageSize ?? gitpodPageSizeDefault;
  }

  /** Stores the instances of the three selections for a reconcile of [window.from, window.to) at `now`. */
  async sync(window: GitpodWindow, now: Date, signal?: AbortSignal): Promise<GitpodSyncSummary> {
    this.shape ??= await probeGitpodSchema(this.deps.gitpod);
    const shape = this.shape;
    const totals = { read: 0, stored: 0, alreadyFinal: 0, refused: 0, refusedExamples: [] as RefusedInstance[] };
    const store = async (page: { reports: InstanceReport[]; refused: RefusedInstance[]; read: number }, skipFinal: boolean) => {
      totals.read += page.read;
      totals.refused += page.refused.length;
      for (const refused of page.refused) {
        this.deps.logger?.warn({ instanceId: refused.id, reason: refused.reason }, "Gitpod instance not booked: %s", refused.reason);
        if (totals.refusedExamples.length < refusedListedMax) totals.refusedExamples.push(refused);
      }
      let reports = page.reports;
      if (skipFinal && reports.length > 0) {
        const final = await finalInstanceIds(this.deps.db, reports.map((report) => report.id));
        totals.alreadyFinal += final.size;
        reports = reports.filter((report) => !final.has(report.id));
      }
      if (reports.length > 0) totals.stored += await upsertInstances(this.deps.db, mergeReports(reports), now);
    };
    // Drafts first: the instances Tally holds drafts for, wherever they are now.
    let afterDraft: string | undefined;
    do {
      signal?.throwIfAborted();
      const ids = await draftInstanceIds(this.deps.db, afterDraft, this.pageSize);
      afterDraft = ids.length === this.pageSize ? ids[ids.length - 1] : undefined;
      await store(await gitpodInstancesById(this.deps.gitpod, shape, ids, now), false);
    } while (afterDraft);
    for (const stream of ["stopped", "running"] as const satisfies readonly GitpodStream[]) {
      let after: GitpodCursor | undefined;
      do {
        signal?.throwIfAborted();
        const page = await gitpodInstancePage(this.deps.gitpod, shape, stream, window, after, this.pageSize, now);
        after = page.next;
        await store(page, stream === "stopped");
      } while (after);
    }
    return totals;
  }
}

/** Instance ids of Tally's drafts, in the order of the drafts index, after `after`. */
async function draftInstanceIds(db: Database, after: string | undefined, limit: number): Promise<string[]> {
  const result = await db.execute(sql`
    SELECT workspace_instance_id::text AS id FROM usage
    WHERE draft AND workspace_instance_id ${after ? sql`> ${after}::uuid` : sql`IS NOT NULL`}
    ORDER BY workspace_instance_id
    LIMIT ${limit}`);
  return rowsOf<{ id: string }>(result).map((row) => row.id);
}

/** Of these instances, those whose ledger entry is final: nothing about them changes any more. */
async function finalInstanceIds(db: Database, ids: readonly string[]): Promise<Set<string>> {
  const result = await db.execute(sql`
    SELECT u.workspace_instance_id::text AS id FROM usage u
    WHERE u.workspace_instance_id = ANY(${sql.param(ids)}::uuid[])
      AND ${instanceKeyedIn("u")} AND NOT u.draft`);
  return new Set(rowsOf<{ id: string }>(result).map((row) => row.id));
}
