// Ledger entries. Usage (consumption) is positive; credit notes and invoices are negative.

export type EntryKind = "workspaceinstance" | "invoice" | "creditnote";

export interface LedgerEntry {
  readonly id: string;
  readonly attributionId: string;
  /** Deterministic key from the source (instance id, invoice id, ...); one entry per key. */
  readonly sourceKey: string;
  readonly kind: EntryKind;
  readonly description: string;
  readonly creditCents: bigint;
  readonly effectiveTime: Date;
  readonly workspaceInstanceId: string | null;
  readonly draft: boolean;
  readonly metadata: Record<string, unknown>;
}

export const sourceKeys = {
  workspaceInstance: (instanceId: string) => `instance:${instanceId}`,
  invoice: (invoiceId: string) => `invoice:${invoiceId}`,
  creditNote: (noteId: string) => `creditnote:${noteId}`,
  /** The balancing invoice of a reset that opened the cycle starting at `cycleStart`. */
  cycleReset: (attributionId: string, cycleStart: Date) => `reset:${attributionId}:${cycleStart.toISOString()}`,
  /** The balancing invoice of a switch to Stripe at version `version`. */
  strategySwitch: (attributionId: string, version: number) => `switch:${attributionId}:${version}`,
};

/** The sum of entries per attribution id: the balance deltas a batch of entries causes. */
export function deltasByAttribution(entries: Iterable<Pick<LedgerEntry, "attributionId" | "creditCents">>): Map<string, bigint> {
  const deltas = new Map<string, bigint>();
  for (const entry of entries) {
    deltas.set(entry.attributionId, (deltas.get(entry.attributionId) ?? 0n) + entry.creditCents);
  }
  return deltas;
}
