// Workspace instances as the platform reports them: validation of a report, and the merge rule for
// reports of one instance (a field a report leaves empty keeps its value; a set time is never erased).
import { parseAttributionId, parseOptionalUserId, parseUuid, quoteValue } from "./attribution-id.js";
import { invalidArgument } from "./tally-error.js";

export type WorkspaceType = "regular" | "prebuild";
export const workspaceTypes: readonly WorkspaceType[] = ["regular", "prebuild"];

/** Instances per UpsertWorkspaceInstances request (and per CLI import batch). */
export const instanceBatchSizeMax = 1000;
/** A reported time may run ahead of Tally's clock by this much (clock skew); further is a bug upstream. */
export const reportedTimeAheadMsMax = 24 * 60 * 60 * 1000;
/**
 * No reported time may be earlier: nothing ran before it, and the database driver reads the text of
 * a year below 100 back as 19xx or 20xx (year 1 would come back as 2001 and bill 25 years).
 */
export const reportedTimeEarliest = new Date("1970-01-01T00:00:00Z");

/** Longest accepted value of each string field, in characters. */
export const instanceFieldLengthMax = {
  workspace_id: 256,
  workspace_class: 128,
  project_id: 256,
  context_url: 4096,
  user_name: 256,
  user_avatar_url: 4096,
} as const;

/**
 * One report of an instance, as received: strings are "" when not reported, times undefined. The
 * wire layer converts timestamps (naming the field when one is malformed) and fills this in.
 */
export interface InstanceReportInput {
  readonly id: string;
  readonly workspaceId: string;
  readonly attributionId: string;
  readonly userId: string;
  readonly workspaceClass: string;
  readonly workspaceType: string;
  readonly creationTime: Date | undefined;
  readonly startedTime: Date | undefined;
  readonly stoppingTime: Date | undefined;
  readonly stoppedTime: Date | undefined;
  readonly projectId: string;
  readonly contextUrl: string;
  readonly userName: string;
  readonly userAvatarUrl: string;
}

/**
 * A validated report: ids in canonical lower-case form; `undefined` means "not reported, keep what is
 * stored". Strings are never "" here.
 */
export interface InstanceReport {
  readonly id: string;
  readonly workspaceId: string;
  readonly attributionId: string | undefined;
  readonly userId: string | undefined;
  readonly workspaceClass: string | undefined;
  readonly workspaceType: WorkspaceType | undefined;
  readonly creationTime: Date | undefined;
  readonly startedTime: Date | undefined;
  readonly stoppingTime: Date | undefined;
  readonly stoppedTime: Date | undefined;
  readonly projectId: string | undefined;
  readonly contextUrl: string | undefined;
  readonly userName: string | undefined;
  readonly userAvatarUrl: string | undefined;
}

/** An instance as stored: the merge of all its reports. Strings are "" when never reported. */
export interface WorkspaceInstance {
  readonly id: string;
  readonly workspaceId: string;
  readonly attributionId: string | undefined;
  readonly userId: string | undefined;
  readonly workspaceClass: string;
  readonly workspaceType: WorkspaceType | undefined;
  readonly creationTime: Date | undefined;
  readonly startedTime: Date | undefined;
  readonly stoppingTime: Date | undefined;
  readonly stoppedTime: Date | undefined;
  readonly projectId: string;
  readonly contextUrl: string;
  readonly userName: string;
  readonly userAvatarUrl: string;
}

export function checkBatchSize(count: number): void {
  if (count > instanceBatchSizeMax) {
    throw invalidArgument(`instances has ${count} entries, at most ${instanceBatchSizeMax} are allowed per request`);
  }
}

/**
 * Validates one report; `prefix` names it in messages (e.g. "instances[3]"). Throws InvalidArgument
 * naming the field, the value and the rule.
 */
export function validateInstanceReport(input: InstanceReportInput, prefix: string, now: Date): InstanceReport {
  const field = (name: string) => `${prefix}.${name}`;
  const id = parseUuid(input.id, field("id"));
  const workspaceId = text(input.workspaceId, field("workspace_id"), instanceFieldLengthMax.workspace_id);
  if (workspaceId === undefined) throw invalidArgument(`${field("workspace_id")} is required`);
  const attributionId = input.attributionId === "" ? undefined : parseAttributionId(input.attributionId, field("attribution_id")).text;
  const userId = parseOptionalUserId(input.userId, field("user_id"));
  const workspaceClass = text(input.workspaceClass, field("workspace_class"), instanceFieldLengthMax.workspace_class);
  let workspaceType: WorkspaceType | undefined;
  if (input.workspaceType !== "") {
    if (!(workspaceTypes as readonly string[]).includes(input.workspaceType)) {
      throw invalidArgument(`${field("workspace_type")} ${quoteValue(input.workspaceType)} must be "regular" or "prebuild"`);
    }
    workspaceType = input.workspaceType as WorkspaceType;
  }
  // One call per time, no collection of them: this runs for every ingested instance.
  checkReportedTime(input.creationTime, "creation_time", prefix, now);
  checkReportedTime(input.startedTime, "started_time", prefix, now);
  checkReportedTime(input.stoppingTime, "stopping_time", prefix, now);
  checkReportedTime(input.stoppedTime, "stopped_time", prefix, now);
  checkNotBeforeStart(input.stoppingTime, "stopping_time", input.startedTime, prefix);
  checkNotBeforeStart(input.stoppedTime, "stopped_time", input.startedTime, prefix);
  return {
    id,
    workspaceId,
    attributionId,
    userId,
    workspaceClass,
    workspaceType,
    creationTime: input.creationTime,
    startedTime: input.startedTime,
    stoppingTime: input.stoppingTime,
    stoppedTime: input.stoppedTime,
    projectId: text(input.projectId, field("project_id"), instanceFieldLengthMax.project_id),
    contextUrl: text(input.contextUrl, field("context_url"), instanceFieldLengthMax.context_url),
    userName: text(input.userName, field("user_name"), instanceFieldLengthMax.user_name),
    userAvatarUrl: text(input.userAvatarUrl, field("user_avatar_url"), instanceFieldLengthMax.user_avatar_url),
  };
}

/**
 * Merges reports of the same instance in the order given: later values win, values a report leaves
 * out keep earlier ones. The store applies the same rule against what it holds. Returns one report
 * per instance, sorted by id (a stable lock order for the upsert).
 */
export function mergeReports(reports: readonly InstanceReport[]): InstanceReport[] {
  const byId = new Map<string, InstanceReport>();
  for (const report of reports) {
    const earlier = byId.get(report.id);
    byId.set(report.id, earlier ? mergeReport(earlier, report) : report);
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function mergeReport(earlier: InstanceReport, later: InstanceReport): InstanceReport {
  const merged: Record<string, unknown> = { ...earlier };
  for (const [key, value] of Object.entries(later)) {
    if (value !== undefined) merged[key] = value;
  }
  return merged as unknown as InstanceReport;
}

/** "" becomes undefined (not reported); otherwise checks length and characters. */
function checkReportedTime(time: Date | undefined, name: string, prefix: string, now: Date): void {
  if (time === undefined) return;
  if (time.getTime() < reportedTimeEarliest.getTime()) {
    throw invalidArgument(`${prefix}.${name} ${time.toISOString()} is before 1970-01-01T00:00:00Z`);
  }
  if (time.getTime() - now.getTime() > reportedTimeAheadMsMax) {
    throw invalidArgument(`${prefix}.${name} ${time.toISOString()} is more than 24 hours ahead of the current time ${now.toISOString()}`);
  }
}

function checkNotBeforeStart(time: Date | undefined, name: string, started: Date | undefined, prefix: string): void {
  if (time !== undefined && started !== undefined && time.getTime() < started.getTime()) {
    throw invalidArgument(`${prefix}.${name} ${time.toISOString()} must not be before started_time ${started.toISOString()}`);
  }
}

function text(value: string, field: string, lengthMax: number): string | undefined {
  if (value === "") return undefined;
  if (value.length > lengthMax) throw invalidArgument(`${field} is ${value.length} characters long, at most ${lengthMax} allowed`);
  // PostgreSQL text cannot hold NUL; refuse it here rather than fail the whole batch in the database.
  if (value.includes("\u0000")) throw invalidArgument(`${field} ${quoteValue(value)} contains a NUL character`);
  return value;
}
