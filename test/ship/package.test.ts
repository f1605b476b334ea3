// `npm pack` → install into an empty directory → `tally serve` from there, a call, `tally --version`.
// The installed package runs dist/ (compiled JavaScript): no tsx, no TypeScript at run time.
// Then the Dockerfile's final stage (CMD, ENV, WORKDIR, HEALTHCHECK) run against that same install,
// and compose.yaml checked against the configuration schema. This machine has no Docker daemon.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { spawnTally, stopTally, type TallyProcess } from "../support/tally-process.js";
import { packAndInstall, root, type Packed } from "./packed.js";
import { configKeys, loadConfig } from "../../src/config.js";
import { composeFile, dockerfile, freePort, runHealthcheck, startFromDockerfile, type Container } from "./docker.js";

const run = promisify(execFile);
const version = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }).version;

// One pack and install for the whole file (the Dockerfile test below runs the same install).
let packed: Packed;
before(async () => {
  packed = await packAndInstall();
}, { timeout: 900_000 });
after(() => packed?.remove());

describe("the npm package", { timeout: 900_000 }, () => {
  let tally: TallyProcess;

  before(async () => {
    tally = await spawnTally({ TALLY_DATA_DIR: path.join(packed.installDir, "data") }, 300_000, path.join(packed.packageDir, "bin", "tally.mjs"), packed.installDir);
  });

  after(async () => {
    if (tally) await stopTally(tally);
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

  it("tally --help of the installed package reads only its CLI bundle, commander inside it (no protobuf, Connect, database or schema: a fast start)", async () => {
    const record = path.join(packed.installDir, "modules.txt");
    fs.writeFileSync(record, "");
    const env = { ...process.env, TALLY_RECORD_MODULES: record };
    const help = await run(process.execPath, ["--import", path.join(root, "test/support/record-modules.mjs"), packed.bin, "--help"], { cwd: packed.installDir, env });
    assert.match(help.stdout, /^Usage: tally/);
    const modules = fs.readFileSync(record, "utf8").split("\n").filter((line) => line.includes("/node_modules/"));
    assert.ok(modules.some((url) => url.includes("/node_modules/tally/dist/cli/")), "the recorder saw the installed CLI");
    // The package of a module: the path after its last node_modules/ (@scope/name or name).
    const packages = new Set(modules.map((url) => /^((?:@[^/]+\/)?[^/]+)\//.exec(url.slice(url.lastIndexOf("/node_modules/") + "/node_modules/".length))?.[1]));
    packages.delete("tally");
    assert.deepEqual([...packages], [], "scripts/bundle-cli.mjs bundles commander into dist/cli/");
  });
});

describe("the Dockerfile, run on the host against the packed build", { timeout: 900_000 }, () => {
  const image = dockerfile();
  const token = `ops-${randomUUID()}`;
  let container: Container | undefined;
  let fsRoot: string;

  after(async () => {
    if (container && container.child.exitCode === null && container.child.signalCode === null) container.child.kill("SIGKILL");
    if (fsRoot) fs.rmSync(fsRoot, { recursive: true, force: true });
  });

  it("is multi-stage, installs the package without dev dependencies, runs as a non-root user with the data directory as a volume", () => {
    assert.ok(image.stages.length >= 2, "not a multi-stage build");
    assert.match(image.final.from, /^node:20/);
    assert.ok(image.runs.some((r) => /npm install --omit=dev .*tally\.tgz/.test(r)), "the final stage does not install the packed tarball as the package test does");
    assert.ok(image.stages.slice(0, -1).some((s) => s.instructions.some(([i, rest]) => i === "RUN" && /npm pack/.test(rest))), "no stage runs npm pack");
    assert.ok(image.user && !/^(root|0)(:|$)/.test(image.user), `USER is ${image.user || "unset"}`);
    assert.ok(image.env.TALLY_DATA_DIR && image.volumes.includes(image.env.TALLY_DATA_DIR), "TALLY_DATA_DIR is not a VOLUME");
    assert.ok(image.env.PORT && image.exposed.includes(image.env.PORT), "PORT is not EXPOSEd");
    assert.ok(image.healthcheck.cmd.join(" ").includes("/readyz"), "HEALTHCHECK does not probe /readyz");
    assert.equal(image.workdir, "/opt/tally");
  });

  it("serves with its CMD, ENV and WORKDIR: the HEALTHCHECK passes, a call answers, SIGTERM stops it cleanly", async () => {
    fsRoot = fs.mkdtempSync(path.join(os.tmpdir(), "tally-image-root-"));
    // `docker run -p <host>:9001`: on the host the port must be free, so only PORT changes.
    const port = String(await freePort());
    container = startFromDockerfile(image, packed.installDir, fsRoot, { PORT: port, TALLY_API_TOKENS: `ops:admin:${token}` });
    assert.ok(container.env.TALLY_DATA_DIR!.startsWith(fsRoot));
    const deadline = Date.now() + 300_000;
    while (!(await runHealthcheck(image, container, packed.installDir))) {
      assert.equal(container.child.exitCode, null, `the CMD exited:\n${container.output()}`);
      assert.ok(Date.now() < deadline, `HEALTHCHECK never passed:\n${container.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const url = `http://127.0.0.1:${port}/usage.v1.UsageService/GetBalance`;
    const body = JSON.stringify({ attributionId: "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717" });
    const refused = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    assert.equal(refused.status, 401, "the image runs with access control");
    const answered = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body });
    assert.equal(answered.status, 200, await answered.clone().text());
    assert.ok(fs.existsSync(path.join(container.env.TALLY_DATA_DIR!)) && fs.readdirSync(container.env.TALLY_DATA_DIR!).length > 0, "nothing in the data volume");
    container.child.kill("SIGTERM");
    assert.equal(await container.exited, 0, container.output());
  });
});

describe("compose.yaml", () => {
  const compose = composeFile();

  it("is valid YAML with Tally on PostgreSQL 15 and the Stripe emulator in an optional profile", () => {
    const { tally, postgres, "stripe-emulator": emulator } = compose.services;
    assert.ok(tally && postgres && emulator, `services: ${Object.keys(compose.services).join(", ")}`);
    assert.match(String(postgres.image), /^postgres:15(\.|$|-)/);
    assert.equal(tally.build, ".");
    assert.deepEqual(emulator.profiles, ["stripe"]);
    assert.equal((emulator.build as { target: string }).target, dockerfile().stages[0]!.name);
    const emulatorEntry = (emulator.command as string[]).find((arg) => arg.endsWith(".ts"))!;
    assert.ok(fs.existsSync(path.join(root, emulatorEntry)), `${emulatorEntry} does not exist`);
    assert.equal(tally.profiles, undefined, "Tally itself must not need a profile");
  });

  it("gives Tally only documented configuration keys, and a configuration that loads", async () => {
    const environment = compose.services.tally!.environment as Record<string, string>;
    const known = new Set(Object.values(configKeys).map((key) => key.env));
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    for (const name of Object.keys(environment)) {
      assert.ok(known.has(name), `${name} is not a configuration key of src/config.ts`);
      assert.ok(readme.includes(`| \`${name}\``), `${name} is not in the README's configuration table`);
    }
    const database = new URL(environment.DATABASE_URL!);
    assert.ok(compose.services[database.hostname], `DATABASE_URL names ${database.hostname}, not a service`);
    const postgresEnv = compose.services.postgres!.environment as Record<string, string>;
    assert.equal(database.username, postgresEnv.POSTGRES_USER);
    assert.equal(database.pathname.slice(1), postgresEnv.POSTGRES_DB);
    // As docker compose interpolates it, with TALLY_API_TOKENS given and the optional keys left empty.
    const interpolated = Object.fromEntries(
      Object.entries(environment).map(([name, value]) => [
        name,
        String(value).replace(/\$\{(\w+)(?::?[-?])?([^}]*)\}/g, (_, variable: string, fallback: string) =>
          variable === "TALLY_API_TOKENS" ? "ops:admin:compose-test-token" : variable === "LOG_LEVEL" ? fallback : "",
        ),
      ]),
    );
    assert.doesNotThrow(() => loadConfig(interpolated));
  });
});
