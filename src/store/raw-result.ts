// Results of raw `db.execute(sql...)` statements, read the same way from pg and PGlite.

/** The rows of a raw statement (both drivers return `{ rows }`). */
export function rowsOf<Row>(result: unknown): Row[] {
  return (result as { rows: Row[] }).rows;
}

/** Rows written by a raw statement: `rowCount` on pg, `affectedRows` on PGlite. */
export function affectedRows(result: unknown): number {
  const r = result as { rowCount?: number | null; affectedRows?: number };
  return Number(r.rowCount ?? r.affectedRows ?? 0);
}
