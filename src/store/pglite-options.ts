// How Tally starts PGlite (the embedded PostgreSQL in WASM), for the server and for initdb.
import v8 from "node:v8";
import { PGlite } from "@electric-sql/pglite";

/**
 * PGlite's own start parameters plus a smaller shared buffer pool. PostgreSQL's default of 128 MB
 * is written through at start inside the WASM memory, so all of it is resident from the first
 * second (measured: 120 MB of a 290 MB process); 16 MB holds the hot pages of the ledger's indexes
 * for one process, and the operating system's page cache holds the rest of the data files.
 */
export const pgliteSharedBuffers = "16MB";

export const pgliteStartParams: string[] = [...PGlite.defaultStartParams, "-c", `shared_buffers=${pgliteSharedBuffers}`];

/**
 * Compiles PGlite's WASM (9 MB of PostgreSQL) with V8's baseline compiler only. By default V8 also
 * recompiles hot functions with its optimizing compiler on background threads; for PostgreSQL that
 * is many large functions, and the compiler's working memory stays in the threads' malloc arenas:
 * measured 100 MB more resident memory for the life of the process (a fresh server: 260 MB peak,
 * 215 MB idle; with baseline code only: 155 MB and 145 MB) and more CPU at start. The ledger's
 * work in PGlite is dominated by I/O and data copying, where baseline code costs little (bench:scale
 * prints the figures). Must run before PGlite's module is compiled; it only concerns WASM, which
 * nothing else in Tally uses.
 */
export function useBaselineWasmCompiler(): void {
  v8.setFlagsFromString("--liftoff-only");
}
