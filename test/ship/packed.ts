// The npm package as users get it: `npm pack` of this checkout (which builds dist/ first, through the
// prepack script), installed with its production dependencies only into an empty directory.
// Shared by the package test and the Dockerfile test (test/ship/*.test.ts, run by .ci/run, not by
// `npm test`: installing needs the npm registry or a warm npm cache, and takes a minute).
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const run = promisify(execFile);

export interface Packed {
  /** The .tgz file. */
  tarball: string;
  /** Paths inside the tarball, without the leading "package/". */
  files: string[];
  /** The empty directory it was installed into (node_modules/tally, node_modules/.bin/tally). */
  installDir: string;
  /** The installed package's directory. */
  packageDir: string;
  /** The installed `tally` executable. */
  bin: string;
  remove(): void;
}

export async function packAndInstall(): Promise<Packed> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tally-pack-"));
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };
  delete env.NODE_TEST_CONTEXT;
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, env, maxBuffer: 64 << 20 });
  const report = JSON.parse(stdout.slice(stdout.indexOf("[")).trim()) as { filename: string; files: { path: string }[] }[];
  const tarball = path.join(work, report[0]!.filename);
  const installDir = path.join(work, "app");
  fs.mkdirSync(installDir);
  fs.writeFileSync(path.join(installDir, "package.json"), JSON.stringify({ name: "tally-install-test", private: true }));
  await run("npm", ["install", "--omit=dev", "--prefer-offline", "--no-package-lock", tarball], { cwd: installDir, env, maxBuffer: 64 << 20 });
  return {
    tarball,
    files: report[0]!.files.map((f) => f.path),
    installDir,
    packageDir: path.join(installDir, "node_modules", "tally"),
    bin: path.join(installDir, "node_modules", ".bin", "tally"),
    remove: () => fs.rmSync(work, { recursive: true, force: true }),
  };
}
