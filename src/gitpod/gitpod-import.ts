// `tally import gitpod`: copies an existing installation's ledger state from Gitpod's database into
// Tally, then verifies it. What is copied:
// - every cost-center version (d_b_cost_center, oldest first: versions 1..n, the newest is current);
// - every usage entry (d_b_usage, drafts included, ids kept), through the ledger store, so balances
//   and usage totals move in the same transaction as the entries (one transaction per page);
// - the Stripe customer of each attribution id (Tally keeps one: the newest, as the existing component
//   uses; older ones are listed, not dropped silently).
// Idempotent and resumable: a page commits whole or not at all, and entries whose id Tally already
// holds are skipped, so a rerun (after a kill, or after success) adds exactly what is missing.
// Rows Tally refuses (bad ids, times, kinds) are listed with the reason; they make the verification
// fail, since the balances then differ.
import { sql } from "drizzle-orm";
import { parseAttributionId, parseUuid } from "../domain/attribution-id.js";
import { cycleStartingAt } from "../domain/billing-cycle.js";
import { validateSpendingLimit, type CostCenter, type StoredCostCenter } from "../domain/cost-center.js";
import { sourceKeys, type EntryKind, type LedgerEntry } from "../domain/ledger-entry.js";
import { currencyOrDefault } from "../domain/stripe-billing.js";
import { TallyError } from "../domain/tally-error.js";
import { insertCostCenterVersions, toCostCenter } from "../store/cost-centers.js";
import type { Database } from "../store/database.js";
import { insertEntries } from "../store/ledger.js";
import { rowsOf } from "../store/raw-result.js";
import { costCenters as costCentersTable, instanceKeyedIn } from "../store/schema.js";
import { getStripeCustomerByAttributionId, insertStripeCustomer } from "../store/stripe-customers.js";
import { inTransaction } from "../store/transactions.js";
import type { GitpodDatabase } from "./gitpod-database.js";
import { parseGitpodTime } from "./gitpod-instances.js";

/** Usage entries per page: one read from Gitpod's database, one transaction in Tally's. */
export const importPageSizeDefault = 2000;
/** Cost centers (attribution ids) per transaction. */
const costCenterBatch = 500;

export type ImportTable = "d_b_cost_center" | "d_b_usage" | "d_b_stripe_customer";

export interface RefusedRow {
  readonly table: ImportTable;
  /** The row's key: the usage id, the cost center's id and creationTime, the customer id. */
  readonly key: string;
  readonly reason: string;
}

export interface TableCounts {
  /** Rows read from Gitpod's database. */
  read: number;
  /** Rows written to Tally (in a dry run: that would be written). */
  imported: number;
  /** Rows Tally already holds (an earlier run). */
  alreadyPresent: number;
  refused: number;
}

export interface ImportProgress {
  readonly phase: "cost centers" | "usage" | "stripe customers" | "verification";
  readonly done: number;
  readonly total: number;
}

export interface BalanceMismatch {
  readonly attributionId: string;
  /** SUM(creditCents) in Gitpod's d_b_usage. */
  readonly gitpodCents: bigint;
  readonly tallyBalanceCents: bigint;
  /** SUM(credit_cents) of Tally's ledger. */
  readonly tallyLedgerCents: bigint;
}

export interface CostCenterMismatch {
  readonly attributionId: string;
  readonly gitpod: string;
  readonly tally: string;
}

export interface Verification {
  readonly attributions: number;
  readonly balancesMatching: number;
  readonly balanceMismatches: BalanceMismatch[];
  readonly costCenters: number;
  readonly costCenterMismatches: CostCenterMismatch[];
}

export interface ImportReport {
  readonly dryRun: boolean;
  readonly costCenters: TableCounts;
  readonly usage: TableCounts;
  readonly stripeCustomers: TableCounts & { olderSkipped: number };
  readonly refused: RefusedRow[];
  /** Older Stripe customers of an attribution id (Tally keeps the newest), listed with the reason. */
  readonly notKept: RefusedRow[];
  /** Undefined in a dry run. */
  readonly verification: Verification | undefined;
}

export interface GitpodImportOptions {
  readonly gitpod: GitpodDatabase;
  readonly db: Database;
  readonly now: () => Date;
  readonly dryRun?: boolean;
  readonly pageSize?: number;
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Stops between pages (what was committed stays). */
  readonly signal?: AbortSignal;
}

export function importSucceeded(report: ImportReport): boolean {
  return (
    report.refused.length === 0 &&
    report.verification !== undefined &&
    report.verification.balanceMismatches.length === 0 &&
    report.verification.costCenterMismatches.length === 0
  );
}

export async function importGitpod(options: GitpodImportOptions): Promise<ImportReport> {
  const refused: RefusedRow[] = [];
  const costCenters = await importCostCenters(options, refused);
  const usage = await importUsage(options, refused);
  const notKept: RefusedRow[] = [];
  const stripeCustomers = await importStripeCustomers(options, refused, notKept);
  const verification = options.dryRun ? undefined : await verifyImport(options.gitpod, options.db, options.onProgress);
  return { dryRun: options.dryRun ?? false, costCenters, usage, stripeCustomers, refused, notKept, verification };
}

const counts = (): TableCounts => ({ read: 0, imported: 0, alreadyPresent: 0, refused: 0 });

function reasonOf(error: unknown): string {
  if (error instanceof TallyError) return error.message;
  throw error;
}

async function hasColumn(gitpod: GitpodDatabase, table: string, column: string): Promise<boolean> {
  const rows = await gitpod.query(
    "SELECT 1 AS present FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
    [table, column],
  );
  return rows.length > 0;
}

// --- cost centers ---

interface GitpodCostCenterRow {
  id: string;
  creationTime: string;
  spendingLimit: number | string;
  billingStrategy: string;
  billingCycleStart: string;
  nextBillingTime: string;
}

/** A d_b_cost_center row as Tally's cost center, or a TallyError naming the column. */
export function toCostCenterVersion(row: GitpodCostCenterRow): { costCenter: CostCenter; createdAt: Date } {
  const name = `d_b_cost_center ${row.id} ${row.creationTime}`;
  const attributionId = parseAttributionId(row.id, `${name}.id`).text;
  const createdAt = parseGitpodTime(row.creationTime, `${name}.creationTime`);
  if (!createdAt) throw new TallyError("InvalidArgument", `${name}.creationTime is empty`);
  if (row.billingStrategy !== "stripe" && row.billingStrategy !== "other") {
    throw new TallyError("InvalidArgument", `${name}.billingStrategy ${JSON.stringify(row.billingStrategy)} must be "stripe" or "other"`);
  }
  const spendingLimitCredits = validateSpendingLimit(Number(row.spendingLimit), `${name}.spendingLimit`);
  const billingCycleStart = parseGitpodTime(row.billingCycleStart, `${name}.billingCycleStart`) ?? createdAt;
  // Stripe-billed cost centers have no next billing time in Gitpod ('' ): Stripe bills them. Tally
  // keeps a monthly cycle for them anyway (its reset job leaves Stripe cost centers alone).
  const nextBillingTime = parseGitpodTime(row.nextBillingTime, `${name}.nextBillingTime`) ?? cycleStartingAt(billingCycleStart).nextBillingTime;
  if (nextBillingTime <= billingCycleStart) {
    throw new TallyError("InvalidArgument", `${name}.nextBillingTime ${row.nextBillingTime} must be after billingCycleStart ${billingCycleStart.toISOString()}`);
  }
  return {
    costCenter: { attributionId, spendingLimitCredits, billingStrategy: row.billingStrategy, billingCycleStart, nextBillingTime },
    createdAt,
  };
}

const sameCostCenter = (a: CostCenter, b: CostCenter) =>
  a.spendingLimitCredits === b.spendingLimitCredits &&
  a.billingStrategy === b.billingStrategy &&
  a.billingCycleStart.getTime() === b.billingCycleStart.getTime() &&
  a.nextBillingTime.getTime() === b.nextBillingTime.getTime();

export function describeCostCenter(costCenter: CostCenter | undefined): string {
  if (!costCenter) return "none";
  return `limit ${costCenter.spendingLimitCredits}, ${costCenter.billingStrategy}, cycle ${costCenter.billingCycleStart.toISOString()} to ${costCenter.nextBillingTime.toISOString()}`;
}

async function readGitpodCostCenters(gitpod: GitpodDatabase): Promise<GitpodCostCenterRow[]> {
  const deleted = (await hasColumn(gitpod, "d_b_cost_center", "deleted")) ? "WHERE deleted = 0" : "";
  return gitpod.query<GitpodCostCenterRow>(
    `SELECT id, creationTime, spendingLimit, billingStrategy, billingCycleStart, nextBillingTime FROM d_b_cost_center ${deleted} ORDER BY id, creationTime`,
  );
}

async function readTallyCostCenters(db: Database): Promise<Map<string, StoredCostCenter[]>> {
  const rows = await db.select().from(costCentersTable).orderBy(costCentersTable.attributionId, costCentersTable.version);
  const byId = new Map<string, StoredCostCenter[]>();
  for (const row of rows) {
    const list = byId.get(row.attributionId) ?? [];
    list.push(toCostCenter(row));
    byId.set(row.attributionId, list);
  }
  return byId;
}

async function importCostCenters(options: GitpodImportOptions, refused: RefusedRow[]): Promise<TableCounts> {
  const result = counts();
  const rows = await readGitpodCostCenters(options.gitpod);
  result.read = rows.length;
  const versionsById = new Map<string, { costCenter: CostCenter; createdAt: Date }[]>();
  for (const row of rows) {
    try {
      const version = toCostCenterVersion(row);
      const list = versionsById.get(version.costCenter.attributionId) ?? [];
      list.push(version);
      versionsById.set(version.costCenter.attributionId, list);
    } catch (error) {
      refused.push({ table: "d_b_cost_center", key: `${row.id} ${row.creationTime}`, reason: reasonOf(error) });
      result.refused += 1;
    }
  }
  const existing = await readTallyCostCenters(options.db);
  const writes: { attributionId: string; versions: { costCenter: CostCenter; createdAt: Date; version: number }[] }[] = [];
  for (const [attributionId, versions] of versionsById) {
    const held = existing.get(attributionId) ?? [];
    const prefixMatches = held.length <= versions.length && held.every((stored, index) => sameCostCenter(stored, versions[index]!.costCenter));
    if (!prefixMatches) {
      refused.push({
        table: "d_b_cost_center",
        key: attributionId,
        reason: `Tally already holds ${held.length} cost-center versions of ${attributionId} that differ from Gitpod's ${versions.length} (Tally's current: ${describeCostCenter(held[held.length - 1])}); not imported`,
      });
      result.refused += versions.length;
      continue;
    }
    result.alreadyPresent += held.length;
    const missing = versions.slice(held.length).map((version, index) => ({ ...version, version: held.length + index + 1 }));
    if (missing.length > 0) writes.push({ attributionId, versions: missing });
  }
  let done = 0;
  for (let start = 0; start < writes.length; start += costCenterBatch) {
    options.signal?.throwIfAborted();
    const batch = writes.slice(start, start + costCenterBatch);
    if (!options.dryRun) {
      await inTransaction(options.db, (tx) => insertCostCenterVersions(tx, batch.flatMap(({ versions }) => versions)));
    }
    for (const { versions } of batch) result.imported += versions.length;
    done += batch.length;
    options.onProgress?.({ phase: "cost centers", done, total: writes.length });
  }
  return result;
}

// --- usage ---

interface GitpodUsageRow {
  id: string;
  attributionId: string;
  description: string;
  creditCents: string | number;
  effectiveTime: string;
  kind: string;
  workspaceInstanceId: string | null;
  draft: number | boolean;
  metadata: string | null;
}

const entryKinds: readonly EntryKind[] = ["workspaceinstance", "invoice", "creditnote"];
/** The source key of an imported entry that is not the one entry of an instance. */
export const gitpodEntrySourceKey = (usageId: string) => `gitpod:${usageId}`;

/** A d_b_usage row as a ledger entry (source key: the instance's when it has one), or a TallyError. */
export function toLedgerEntry(row: GitpodUsageRow): LedgerEntry {
  const name = `d_b_usage ${row.id}`;
  const id = parseUuid(row.id, `${name}.id`);
  const attributionId = parseAttributionId(row.attributionId, `${name}.attributionId`).text;
  if (!(entryKinds as readonly string[]).includes(row.kind)) {
    throw new TallyError("InvalidArgument", `${name}.kind ${JSON.stringify(row.kind)} must be one of ${entryKinds.join(", ")}`);
  }
  const kind = row.kind as EntryKind;
  const creditText = String(row.creditCents);
  if (!/^-?\d+$/.test(creditText)) throw new TallyError("InvalidArgument", `${name}.creditCents ${creditText} must be a whole number`);
  const effectiveTime = parseGitpodTime(row.effectiveTime, `${name}.effectiveTime`);
  if (!effectiveTime) throw new TallyError("InvalidArgument", `${name}.effectiveTime is empty`);
  const workspaceInstanceId =
    row.workspaceInstanceId === null || row.workspaceInstanceId === "" ? null : parseUuid(row.workspaceInstanceId, `${name}.workspaceInstanceId`);
  const draft = row.draft === true || row.draft === 1 || (row.draft as unknown) === "1";
  if (draft && kind !== "workspaceinstance") throw new TallyError("InvalidArgument", `${name} is a draft of kind ${kind}; only workspace-instance entries can be drafts`);
  let metadata: Record<string, unknown> = {};
  if (row.metadata !== null && row.metadata !== "") {
    try {
      const parsed: unknown = JSON.parse(row.metadata);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      metadata = parsed as Record<string, unknown>;
    } catch {
      throw new TallyError("InvalidArgument", `${name}.metadata is not a JSON object`);
    }
  }
  if (row.description.includes("\u0000")) throw new TallyError("InvalidArgument", `${name}.description contains a NUL character`);
  return {
    id,
    attributionId,
    sourceKey: kind === "workspaceinstance" && workspaceInstanceId ? sourceKeys.workspaceInstance(workspaceInstanceId) : gitpodEntrySourceKey(id),
    kind,
    description: row.description,
    creditCents: BigInt(creditText),
    effectiveTime,
    workspaceInstanceId,
    draft,
    metadata,
  };
}

async function importUsage(options: GitpodImportOptions, refused: RefusedRow[]): Promise<TableCounts> {
  const { gitpod, db } = options;
  const result = counts();
  const pageSize = options.pageSize ?? importPageSizeDefault;
  const [{ total }] = (await gitpod.query<{ total: string | number }>("SELECT COUNT(*) AS total FROM d_b_usage")) as [{ total: string | number }];
  const totalRows = Number(total);
  let after = "";
  for (;;) {
    options.signal?.throwIfAborted();
    const rows = await gitpod.query<GitpodUsageRow>(
      `SELECT id, attributionId, description, creditCents, effectiveTime, kind, workspaceInstanceId, draft, metadata
        FROM d_b_usage WHERE id > ? ORDER BY id LIMIT ?`,
      [after, pageSize],
    );
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    result.read += rows.length;
    const entries: LedgerEntry[] = [];
    for (const row of rows) {
      try {
        entries.push(toLedgerEntry(row));
      } catch (error) {
        refused.push({ table: "d_b_usage", key: row.id, reason: reasonOf(error) });
        result.refused += 1;
      }
    }
    const present = await presentEntryIds(db, entries.map((entry) => entry.id));
    result.alreadyPresent += present.size;
    const fresh = await assignSourceKeys(
      gitpod,
      db,
      entries.filter((entry) => !present.has(entry.id)),
      (entry, reason) => {
        refused.push({ table: "d_b_usage", key: entry.id, reason });
        result.refused += 1;
      },
    );
    if (fresh.length > 0 && !options.dryRun) {
      const inserted = await inTransaction(db, (tx) => insertEntries(tx, fresh, options.now()));
      if (inserted.size !== fresh.length) {
        // Another writer took a source key between the check and the insert: list, never drop silently.
        for (const entry of fresh) {
          if (!inserted.has(entry.sourceKey)) {
            refused.push({ table: "d_b_usage", key: entry.id, reason: `source key ${entry.sourceKey} was taken by another entry during the import; rerun` });
            result.refused += 1;
          }
        }
      }
      result.imported += inserted.size;
    } else {
      result.imported += fresh.length;
    }
    options.onProgress?.({ phase: "usage", done: result.read, total: totalRows });
    if (rows.length < pageSize) break;
  }
  return result;
}

async function presentEntryIds(db: Database, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const result = await db.execute(sql`SELECT id::text AS id FROM usage WHERE id = ANY(${sql.param(ids)}::uuid[])`);
  return new Set(rowsOf<{ id: string }>(result).map((row) => row.id));
}

/**
 * An instance's first entry (by id) takes the instance's source key, so the reconciler finds it and
 * never books the instance again; a further Gitpod entry of the same instance keeps its own key
 * (`gitpod:<id>`). An instance Tally booked itself before the import is refused: importing would
 * book it twice.
 */
async function assignSourceKeys(
  gitpod: GitpodDatabase,
  db: Database,
  entries: readonly LedgerEntry[],
  refuse: (entry: LedgerEntry, reason: string) => void,
): Promise<LedgerEntry[]> {
  // An instance's own entry is found by its instance id (usage_instance_key_idx), not by its key's text.
  const instanceIds = entries.filter((entry) => entry.sourceKey.startsWith("instance:")).map((entry) => entry.workspaceInstanceId);
  const takenBy = new Map<string, string>();
  if (instanceIds.length > 0) {
    const result = await db.execute(sql`
      SELECT u.source_key, u.id::text AS id FROM usage u
      WHERE u.workspace_instance_id = ANY(${sql.param(instanceIds)}::uuid[])
        AND ${instanceKeyedIn("u")}`);
    for (const row of rowsOf<{ source_key: string; id: string }>(result)) takenBy.set(row.source_key, row.id);
  }
  const holders = [...new Set(takenBy.values())];
  const gitpodHolders =
    holders.length === 0 ? new Set<string>() : new Set((await gitpod.query<{ id: string }>("SELECT id FROM d_b_usage WHERE id IN (?)", [holders])).map((row) => row.id));
  const keysInPage = new Set<string>();
  const out: LedgerEntry[] = [];
  for (const entry of entries) {
    if (!entry.sourceKey.startsWith("instance:")) {
      out.push(entry);
      continue;
    }
    const holder = takenBy.get(entry.sourceKey);
    if (holder !== undefined && !gitpodHolders.has(holder)) {
      refuse(entry, `Tally already booked instance ${entry.workspaceInstanceId} itself (entry ${holder}); importing it would book it twice`);
      continue;
    }
    if (holder !== undefined || keysInPage.has(entry.sourceKey)) {
      out.push({ ...entry, sourceKey: gitpodEntrySourceKey(entry.id) });
      continue;
    }
    keysInPage.add(entry.sourceKey);
    out.push(entry);
  }
  return out;
}

// --- Stripe customers ---

interface GitpodStripeCustomerRow {
  stripeCustomerId: string;
  attributionId: string;
  creationTime: string;
  currency: string;
  invalidBillingAddress: number | null;
}

async function importStripeCustomers(options: GitpodImportOptions, refused: RefusedRow[], notKept: RefusedRow[]): Promise<TableCounts & { olderSkipped: number }> {
  const result = { ...counts(), olderSkipped: 0 };
  const deleted = (await hasColumn(options.gitpod, "d_b_stripe_customer", "deleted")) ? "WHERE deleted = 0" : "";
  const rows = await options.gitpod.query<GitpodStripeCustomerRow>(
    `SELECT stripeCustomerId, attributionId, creationTime, currency, invalidBillingAddress FROM d_b_stripe_customer ${deleted}
      ORDER BY attributionId, creationTime DESC, stripeCustomerId`,
  );
  result.read = rows.length;
  let previous: string | undefined;
  let done = 0;
  for (const row of rows) {
    options.signal?.throwIfAborted();
    const name = `d_b_stripe_customer ${row.stripeCustomerId}`;
    if (row.attributionId === previous) {
      // Tally keeps one customer per attribution id: the newest, which the existing component uses.
      notKept.push({ table: "d_b_stripe_customer", key: row.stripeCustomerId, reason: `an older customer of ${row.attributionId}; Tally keeps the newest one` });
      result.olderSkipped += 1;
      continue;
    }
    previous = row.attributionId;
    try {
      const attributionId = parseAttributionId(row.attributionId, `${name}.attributionId`).text;
      if (!/^[A-Za-z0-9_]{1,255}$/.test(row.stripeCustomerId)) throw new TallyError("InvalidArgument", `${name}.stripeCustomerId is not a Stripe customer id`);
      const held = await getStripeCustomerByAttributionId(options.db, attributionId);
      if (held) {
        if (held.stripeCustomerId === row.stripeCustomerId) result.alreadyPresent += 1;
        else throw new TallyError("FailedPrecondition", `Tally already holds customer ${held.stripeCustomerId} for ${attributionId}`);
        continue;
      }
      if (!options.dryRun) {
        await insertStripeCustomer(
          options.db,
          { stripeCustomerId: row.stripeCustomerId, attributionId, currency: currencyOrDefault(row.currency || undefined), invalidBillingAddress: row.invalidBillingAddress === 1 },
          parseGitpodTime(row.creationTime, `${name}.creationTime`) ?? options.now(),
        );
      }
      result.imported += 1;
    } catch (error) {
      refused.push({ table: "d_b_stripe_customer", key: row.stripeCustomerId, reason: reasonOf(error) });
      result.refused += 1;
    }
    done += 1;
    if (done % 500 === 0) options.onProgress?.({ phase: "stripe customers", done, total: rows.length });
  }
  return result;
}

// --- verification ---

/**
 * For every attribution id of Gitpod's ledger: Tally's balance and Tally's ledger sum equal
 * SUM(creditCents) to the cent; for every cost center: Tally's current version equals Gitpod's newest.
 */
export async function verifyImport(gitpod: GitpodDatabase, db: Database, onProgress?: (progress: ImportProgress) => void): Promise<Verification> {
  const sums = await gitpod.query<{ attributionId: string; sum: string | number }>(
    "SELECT attributionId, CAST(SUM(creditCents) AS CHAR) AS sum FROM d_b_usage GROUP BY attributionId ORDER BY attributionId",
  );
  const balances = new Map(
    rowsOf<{ attribution_id: string; balance: string }>(await db.execute(sql`SELECT attribution_id, balance_cents::text AS balance FROM balances`)).map(
      (row) => [row.attribution_id, BigInt(row.balance)],
    ),
  );
  const ledger = new Map(
    rowsOf<{ attribution_id: string; sum: string }>(
      await db.execute(sql`SELECT attribution_id, sum(credit_cents)::text AS sum FROM usage GROUP BY attribution_id`),
    ).map((row) => [row.attribution_id, BigInt(row.sum)]),
  );
  const balanceMismatches: BalanceMismatch[] = [];
  for (const row of sums) {
    const gitpodCents = BigInt(row.sum);
    const tallyBalanceCents = balances.get(row.attributionId) ?? 0n;
    const tallyLedgerCents = ledger.get(row.attributionId) ?? 0n;
    if (tallyBalanceCents !== gitpodCents || tallyLedgerCents !== gitpodCents) {
      balanceMismatches.push({ attributionId: row.attributionId, gitpodCents, tallyBalanceCents, tallyLedgerCents });
    }
  }
  onProgress?.({ phase: "verification", done: sums.length, total: sums.length });
  const gitpodVersions = await readGitpodCostCenters(gitpod);
  const newest = new Map<string, GitpodCostCenterRow>();
  for (const row of gitpodVersions) newest.set(row.id, row); // ordered by creationTime: the last is the newest
  const tally = await readTallyCostCenters(db);
  const costCenterMismatches: CostCenterMismatch[] = [];
  for (const [attributionId, row] of newest) {
    let expected: CostCenter | undefined;
    try {
      expected = toCostCenterVersion(row).costCenter;
    } catch {
      expected = undefined;
    }
    const versions = tally.get(attributionId);
    const current = versions?.[versions.length - 1];
    if (!expected || !current || !sameCostCenter(expected, current)) {
      costCenterMismatches.push({
        attributionId,
        gitpod: expected ? describeCostCenter(expected) : `unreadable (${row.creationTime})`,
        tally: describeCostCenter(current),
      });
    }
  }
  return {
    attributions: sums.length,
    balancesMatching: sums.length - balanceMismatches.length,
    balanceMismatches,
    costCenters: newest.size,
    costCenterMismatches,
  };
}
