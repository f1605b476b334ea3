// ReconcileUsage as pure planning: workspace instances and their existing ledger entries in,
// the entries to insert and the drafts to update out. The store applies the plan.
//
// Rules (SPEC.md Part B, documented in the README):
// - Runtime runs from the started time to the stopping time, else the stopped time, else `now`;
//   whole seconds (milliseconds truncated), never negative. Credits come from src/domain/pricing.ts.
// - An entry is a draft until the instance has a stopped time. Its effective time is the stopping
//   time, else the stopped time, else `now`.
// - Instances without a started time or an attribution id are not booked.
// - A final entry is never changed; a draft is rewritten only when something it shows changed.
import { isoTime } from "./iso-time.js";
import { sourceKeys } from "./ledger-entry.js";
import { priceOf, usageCents, type PriceTable } from "./pricing.js";
import type { WorkspaceInstance } from "./workspace-instance.js";

/** Running instances (no stopping time) started longer ago than this are only kept up by their draft. */
export const runningInstanceLookbackMs = 10 * 24 * 60 * 60 * 1000;
/** The description of every workspace-instance entry: it names the automated collector. */
export const instanceUsageDescription = "Usage collected by automated system.";

/** An existing ledger entry of an instance (source key `instance:<id>`). */
export interface ExistingInstanceEntry {
  readonly entryId: string;
  readonly attributionId: string;
  readonly creditCents: bigint;
  readonly draft: boolean;
  readonly effectiveTime: Date;
  /** metadata->>'workspaceClass' and metadata->>'userId' of the entry: keys of its daily totals. */
  readonly workspaceClass: string | null;
  readonly userId: string | null;
}

export interface ReconciliationCandidate {
  readonly instance: WorkspaceInstance;
  readonly existing: ExistingInstanceEntry | undefined;
}

/** What an instance's entry should say now. */
export interface InstanceUsage {
  readonly workspaceInstanceId: string;
  readonly sourceKey: string;
  readonly attributionId: string;
  readonly creditCents: bigint;
  readonly effectiveTime: Date;
  readonly draft: boolean;
  readonly metadata: WorkspaceInstanceUsageMetadata;
}

/** The metadata JSON of a workspace-instance entry, with the names Gitpod's usage component uses. */
export interface WorkspaceInstanceUsageMetadata {
  readonly workspaceId: string;
  readonly workspaceType: string;
  readonly workspaceClass: string;
  readonly contextURL: string;
  readonly creationTime: string;
  readonly startTime: string;
  readonly endTime: string;
  readonly stoppedTime: string;
  readonly userId: string;
  readonly userName: string;
  readonly userAvatarURL: string;
}

export type ExpectedDraft = Pick<ExistingInstanceEntry, "attributionId" | "creditCents" | "effectiveTime" | "workspaceClass" | "userId">;

export interface DraftUpdate {
  readonly entryId: string;
  /**
   * What the draft held when planned; the store updates only if it still does, so what it takes
   * off the balance and the daily totals is exactly what the draft held.
   */
  readonly expected: ExpectedDraft;
  readonly next: InstanceUsage;
}

export interface ReconciliationPlan {
  readonly inserts: InstanceUsage[];
  readonly updates: DraftUpdate[];
  /** Drafts that already say what they should. */
  readonly unchanged: number;
  /** Instances whose entry is final: never touched again. */
  readonly alreadyFinal: number;
  /** Instances without a started time or attribution id. */
  readonly notBillable: number;
}

export function runtimeSeconds(instance: WorkspaceInstance, now: Date): bigint {
  if (!instance.startedTime) return 0n;
  const end = instance.stoppingTime ?? instance.stoppedTime ?? now;
  const ms = end.getTime() - instance.startedTime.getTime();
  return ms <= 0 ? 0n : BigInt(Math.floor(ms / 1000));
}

/** The entry an instance should have at `now`, or undefined when it is not billable. */
export function instanceUsage(instance: WorkspaceInstance, prices: PriceTable, now: Date): InstanceUsage | undefined {
  if (!instance.startedTime || !instance.attributionId) return undefined;
  const stop = instance.stoppingTime ?? instance.stoppedTime;
  return {
    workspaceInstanceId: instance.id,
    sourceKey: sourceKeys.workspaceInstance(instance.id),
    attributionId: instance.attributionId,
    creditCents: usageCents(runtimeSeconds(instance, now), priceOf(prices, instance.workspaceClass)),
    effectiveTime: stop ?? now,
    draft: instance.stoppedTime === undefined,
    metadata: usageMetadata(instance),
  };
}

export function usageMetadata(instance: WorkspaceInstance): WorkspaceInstanceUsageMetadata {
  const iso = (time: Date | undefined) => (time === undefined ? "" : isoTime(time));
  return {
    workspaceId: instance.workspaceId,
    workspaceType: instance.workspaceType ?? "regular",
    workspaceClass: instance.workspaceClass,
    contextURL: instance.contextUrl,
    creationTime: iso(instance.creationTime),
    startTime: iso(instance.startedTime),
    endTime: iso(instance.stoppingTime ?? instance.stoppedTime),
    stoppedTime: iso(instance.stoppedTime),
    userId: instance.userId ?? "",
    userName: instance.userName,
    userAvatarURL: instance.userAvatarUrl,
  };
}

export function planReconciliation(
  candidates: readonly ReconciliationCandidate[],
  prices: PriceTable,
  now: Date,
): ReconciliationPlan {
  const inserts: InstanceUsage[] = [];
  const updates: DraftUpdate[] = [];
  let unchanged = 0;
  let alreadyFinal = 0;
  let notBillable = 0;
  for (const { instance, existing } of candidates) {
    if (existing && !existing.draft) {
      alreadyFinal += 1;
      continue;
    }
    const usage = instanceUsage(instance, prices, now);
    if (!usage) {
      notBillable += 1;
      continue;
    }
    if (!existing) {
      inserts.push(usage);
    } else if (draftIsCurrent(existing, usage)) {
      unchanged += 1;
    } else {
      updates.push({
        entryId: existing.entryId,
        expected: {
          attributionId: existing.attributionId,
          creditCents: existing.creditCents,
          effectiveTime: existing.effectiveTime,
          workspaceClass: existing.workspaceClass,
          userId: existing.userId,
        },
        next: usage,
      });
    }
  }
  return { inserts, updates, unchanged, alreadyFinal, notBillable };
}

function draftIsCurrent(existing: ExistingInstanceEntry, usage: InstanceUsage): boolean {
  return (
    usage.draft &&
    existing.attributionId === usage.attributionId &&
    existing.creditCents === usage.creditCents &&
    existing.effectiveTime.getTime() === usage.effectiveTime.getTime()
  );
}

/** The ledger job's window reaches this far before the end of the last successful run. */
export const ledgerWindowOverlapMs = 5 * 60 * 1000;

/**
 * The window of a ledger run: from the end of the last successful run (minus an overlap for reports
 * that committed late and replicas' clock skew) to now, so downtime of any length loses nothing.
 * The first run ever looks back as far as running instances are considered.
 */
export function ledgerWindow(lastSuccessAt: Date | undefined, now: Date): { from: Date; to: Date } {
  const fromMs = lastSuccessAt ? lastSuccessAt.getTime() - ledgerWindowOverlapMs : now.getTime() - runningInstanceLookbackMs;
  return { from: new Date(Math.min(fromMs, now.getTime())), to: now };
}
