// `npm pack` → install into an empty directory → `tally serve` from there, a call, `tally --version`.
// The installed package runs dist/ (compiled JavaScript): no tsx, no TypeScript at run time.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { spawnTally, stopTally, type TallyProcess } from "../support/tally-process.js";
import { packAndInstall, root, type Packed } from "./packed.js";

const run = promisify(execFile);
const version = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version;

describe("the npm package", { timeout: 600_000 }, () => {
  let packed: Packed;
  let tally: TallyProcess;

  before(async () => {
    packed = await packAndInstall();
    tally = await spawnTally({ TALLY_DATA_DIR: path.join(packed.installDir, "data") }, 300_000, path.join(packed.packageDir, "bin", "tally.mjs"), packed.installDir);
  });

  after(async () => {
    if (tally) await stopTally(tally);
    packed?.remove();
  });

  it("holds the tally bin, the compiled server and CLI, the dashboard, the migrations, the .proto files and the licence", () => {
    const files = new Set(packed.files);
    for (const file of ["bin/tally.mjs", "dist/cli/tally.js", "dist/server.js", "web/dist/index.html", "proto/usage/v1/usage.proto", "LICENSE", "CHANGELOG.md", "README.md"]) {
      assert.ok(files.has(file), `${file} is missing from the package`);
    }
    assert.ok(packed.files.some((f) => /^dist\/store\/migrations\/.+\.sql$/.test(f)), "no migrations in the package");
    assert.ok(packed.files.some((f) => f === "dist/store/migrations/meta/_journal.json"), "no migration journal in the package");
    assert.ok(!packed.files.some((f) => f.startsWith("src/") || f.startsWith("test/") || f.endsWith(".ts") && !f.endsWith(".d.ts")), "sources are in the package");
    const manifest = JSON.parse(fs.readFileSync(path.join(packed.packageDir, "package.json"), "utf8")) as { bin: Record<string, string> };
    assert.equal(manifest.bin.tally, "bin/tally.mjs");
  });

  it("installs without a TypeScript compiler or loader", () => {
    for (const dev of ["tsx", "typescript", "esbuild"]) {
      assert.ok(!fs.existsSync(path.join(packed.installDir, "node_modules", dev)), `${dev} was installed with the package`);
    }
  });

  it("serves from the install directory: ready, a Connect call answers, the dashboard is there", async () => {
    assert.equal((await fetch(`${tally.url}/readyz`)).status, 200);
    const response = await fetch(`${tally.url}/usage.v1.UsageService/GetBalance`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ attributionId: "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717" }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), {});
    const dashboard = await fetch(`${tally.url}/`);
    assert.equal(dashboard.status, 200);
    assert.match(await dashboard.text(), /<div id="app">|<script/);
  });

  it("tally --version and a CLI call against the served instance", async () => {
    const env = { ...process.env, TALLY_SERVER: tally.url };
    const { stdout } = await run(packed.bin, ["--version"], { cwd: packed.installDir, env });
    assert.equal(stdout.trim(), version);
    const balance = await run(packed.bin, ["balance", "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717"], { cwd: packed.installDir, env });
    assert.match(balance.stdout, /0/);
  });
});
