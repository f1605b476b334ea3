// Workspace-instance reports in: validation of a whole batch (all or nothing), then one upsert.
import type { Clock } from "../domain/clock.js";
import { notFound } from "../domain/tally-error.js";
import { parseUuid } from "../domain/attribution-id.js";
import {
  checkBatchSize,
  mergeReports,
  validateInstanceReport,
  type InstanceReport,
  type InstanceReportInput,
  type WorkspaceInstance,
} from "../domain/workspace-instance.js";
import type { Database } from "../store/database.js";
import { getInstance, upsertInstances } from "../store/workspace-instances.js";

export interface WorkspaceInstanceServiceDeps {
  readonly db: Database;
  readonly clock: Clock;
}

export class WorkspaceInstanceService {
  constructor(private readonly deps: WorkspaceInstanceServiceDeps) {}

  /**
   * Validates every entry in order, converting each with `toInput` (which may itself throw a message
   * naming `prefix`), so the first bad entry is the one reported. Nothing is stored unless all are
   * valid. Returns the number of distinct instances stored.
   */
  async upsert<T>(entries: readonly T[], toInput: (entry: T, prefix: string) => InstanceReportInput): Promise<number> {
    checkBatchSize(entries.length);
    const now = this.deps.clock.now();
    const reports: InstanceReport[] = entries.map((entry, index) => {
      const prefix = `instances[${index}]`;
      return validateInstanceReport(toInput(entry, prefix), prefix, now);
    });
    return upsertInstances(this.deps.db, mergeReports(reports), now);
  }

  async get(id: string): Promise<WorkspaceInstance> {
    const instance = await getInstance(this.deps.db, parseUuid(id, "id"));
    if (!instance) throw notFound(`workspace instance ${id} is unknown`);
    return instance;
  }
}
