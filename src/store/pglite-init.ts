// Creates a new PGlite data directory in a short-lived child process (`node pglite-init <dir>`).
//
// Why a child: PGlite's initdb runs a second PostgreSQL in WASM, bootstraps every catalog in its
// memory and copies the result over; the process reaches 600-800 MB resident and WASM memory never
// shrinks, so a server that ran initdb itself stayed at that size for its whole life. Run apart,
// that memory goes back to the system when the child exits, and the server opens a finished
// directory like any restart (as PostgreSQL's own initdb is a program of its own).
//
// The child builds the directory under a temporary name and renames it into place, so a crash
// halfway leaves no directory that looks initialised.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { TallyError } from "../domain/tally-error.js";
import { pgliteStartParams, useBaselineWasmCompiler } from "./pglite-options.js";

const thisFile = fileURLToPath(import.meta.url);

export function isPgliteDataDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, "PG_VERSION"));
}

/** Runs initdb for `dir` in a child process; resolves once the directory is complete. */
export async function initPgliteDataDir(dir: string): Promise<void> {
  // Under tsx (development, tests) the child needs the same loader to run this .ts file.
  const loader = path.extname(thisFile) === ".ts" ? ["--import", import.meta.resolve("tsx")] : [];
  const child = spawn(process.execPath, [...loader, thisFile, dir], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (exitCode) => resolve(exitCode));
  });
  if (code !== 0 || !isPgliteDataDir(dir)) {
    throw new TallyError("Internal", `creating the embedded database in ${dir} failed (exit ${code}): ${stderr.trim()}`);
  }
}

async function main(dir: string): Promise<void> {
  if (isPgliteDataDir(dir)) return;
  useBaselineWasmCompiler();
  const building = `${dir}.init-${process.pid}`;
  fs.rmSync(building, { recursive: true, force: true });
  const db = await PGlite.create(building, { startParams: pgliteStartParams });
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(building, dir);
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: pglite-init <data directory>\n");
    process.exit(2);
  }
  await main(dir);
}
