// `tally --help` starts fast (issue 11: under 150 ms compiled; bench/cli-start.ts measures it) because
// registering the commands loads nothing heavy: a command loads protobuf, Connect, the database
// drivers or the configuration schema only when it runs. This test records every module `tally
// --help`, `tally --version` and `tally <command> --help` load (test/support/record-modules.mjs) and
// fails when a command module imports such a module at its top again. It checks the compiled CLI
// (built here into a scratch directory as `npm run build` builds dist/) and the sources through tsx;
// and that the errors of the compiled CLI, whose classes are now loaded lazily, still map to their
// messages and exit codes.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

const root = path.join(import.meta.dirname, "..");
const recorder = path.join(root, "test/support/record-modules.mjs");
/** The only package `tally --help` may load from the sources (the compiled CLI holds it in its bundle). */
const allowedPackages = ["commander"];
/**
 * Our modules it may load: the command definitions and the small modules they name (no gen/, store/,
 * rpc/, config.js...). Compiled, cli/ is a bundle (scripts/bundle-cli.mjs): tally.js and the chunks
 * it shares with the commands' actions, named <name>-<HASH>.js.
 */
const allowedOwnModule = /\/(cli\/[a-z-]+(-[A-Z0-9]{8})?|config-error|domain\/limits|domain\/tally-error)\.(js|ts)$/;
/** In cli/: the parts that are loaded when a command runs. */
const runOnlyModule = /\/cli\/(client|csv|usage-export|instances-import|[a-z-]+-run)(-[A-Z0-9]{8})?\.(js|ts)$/;
/** Compiled: how many of our files `tally --help` may read (the bundle's entry, its shared chunks, 3 small modules). */
const compiledOwnModulesMax = 10;

const light: readonly (readonly string[])[] = [
  ["--help"],
  ["--version"],
  ["help", "usage"],
  ["usage", "ls", "--help"],
  ["credit", "add", "--help"],
  ["serve", "--help"],
  ["config", "check", "--help"],
  ["instances", "import", "--help"],
];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** URLs of the modules loaded, in order. */
  readonly modules: string[];
}

let scratch: string;
let compiled: string;

function tally(program: string, args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const record = path.join(scratch, `modules-${process.hrtime.bigint()}.txt`);
  fs.writeFileSync(record, "");
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", recorder, program, ...args],
      { cwd: scratch, env: { ...process.env, TALLY_SERVER: undefined, TALLY_TOKEN: undefined, TALLY_RECORD_MODULES: record, ...env } },
      (error, stdout, stderr) => {
        const modules = fs.readFileSync(record, "utf8").split("\n").filter((line) => line !== "");
        resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr, modules });
      },
    );
  });
}

/** "commander", "@bufbuild/protobuf", ...: the packages among the loaded modules. */
function packagesOf(modules: readonly string[]): string[] {
  const names = modules.map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1]).filter((name) => name !== undefined);
  return [...new Set(names)].sort();
}

function ownModulesOf(modules: readonly string[]): string[] {
  return modules.filter((url) => url.startsWith("file:") && !url.includes("/node_modules/") && !url.endsWith("/bin/tally.mjs"));
}

function assertLight(run: Run, what: string, extraPackages: readonly string[] = [], packages: readonly string[] = allowedPackages): void {
  assert.equal(run.code, 0, `${what}: ${run.stderr}`);
  assert.deepEqual(
    packagesOf(run.modules).filter((name) => !extraPackages.includes(name)),
    packages,
    `${what} loads only commander: import heavy modules inside the command's action (await import(...)), not at the top of src/cli/*.ts`,
  );
  const own = ownModulesOf(run.modules);
  assert.ok(own.length > (packages.length === 0 ? 0 : 5), `${what}: the recorder saw the command modules (${own.length})`);
  for (const url of own) {
    assert.match(url, allowedOwnModule, `${what} loads ${url}`);
    assert.doesNotMatch(url, runOnlyModule, `${what} loads ${url}, which only a running command needs`);
  }
}

describe("tally --help starts light", { timeout: 180_000 }, () => {
  before(() => {
    scratch = fs.mkdtempSync(path.join(root, ".tally-cli-start-"));
    // As `npm run build` (tsconfig.build.json), into the scratch directory: inside the checkout, so that
    // node_modules resolves, with package.json beside dist/ as in the package (for --version).
    execFileSync(path.join(root, "node_modules/.bin/tsc"), ["-p", path.join(root, "tsconfig.build.json"), "--outDir", path.join(scratch, "dist"), "--sourceMap", "false"], {
      cwd: root,
    });
    execFileSync(process.execPath, [path.join(root, "scripts/bundle-cli.mjs"), path.join(scratch, "dist")], { cwd: root });
    fs.copyFileSync(path.join(root, "package.json"), path.join(scratch, "package.json"));
    compiled = path.join(scratch, "dist/cli/tally.js");
  });
  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("compiled: --help, --version and each command's --help read the CLI's bundle (commander inside it) and nothing heavy", async () => {
    for (const args of light) {
      const run = await tally(compiled, args);
      assertLight(run, `tally ${args.join(" ")} (compiled)`, [], []);
      const own = ownModulesOf(run.modules);
      assert.ok(own.length <= compiledOwnModulesMax, `tally ${args.join(" ")} (compiled) reads ${own.length} of our files: ${own.join(", ")}`);
    }
  });

  it("compiled: the help is the one of the sources", async () => {
    for (const args of [["--help"], ["usage", "ls", "--help"], ["--version"]]) {
      const [built, sources] = await Promise.all([tally(compiled, args), tally(path.join(root, "bin/tally.mjs"), args)]);
      assert.equal(built.stdout, sources.stdout, `tally ${args.join(" ")}`);
      assert.ok(built.stdout.length > 0);
    }
  });

  it("sources through tsx (bin/tally.mjs in a checkout): the same", async () => {
    // tsx and esbuild, which it loads on the main thread, are the loader, not the CLI.
    const loader = ["esbuild", "tsx"];
    for (const args of light) assertLight(await tally(path.join(root, "bin/tally.mjs"), args), `tally ${args.join(" ")} (tsx)`, loader);
  });

  it("a command that runs loads Connect and protobuf then (the recorder sees them), and its call's error still maps to 10 + the gRPC code", async () => {
    // Port 1 on localhost: nothing listens, the call fails UNAVAILABLE.
    const run = await tally(compiled, ["balance", "team:00000000-0000-4000-8000-000000000000", "--server", "http://127.0.0.1:1"]);
    assert.ok(packagesOf(run.modules).includes("@connectrpc/connect"), "the recorder sees Connect once a call is made");
    assert.ok(packagesOf(run.modules).includes("@bufbuild/protobuf"));
    assert.equal(run.code, 24, run.stderr);
    assert.match(run.stderr, /^tally: UNAVAILABLE: .*\(is a Tally server running at http:\/\/127\.0\.0\.1:1\?/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
  });

  it("compiled: a bad command line, a bad configuration and an unknown option still exit 2 with one line", async () => {
    const usage = await tally(compiled, ["usage", "ls", "team:x", "--order", "up"]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.equal(usage.stderr, 'tally: --order "up" must be one of desc, asc\n');
    const config = await tally(compiled, ["config", "check"], { LOG_LEVEL: "loud", TALLY_CONFIG: undefined });
    assert.equal(config.code, 2, config.stderr);
    assert.match(config.stderr, /^tally: .*LOG_LEVEL/);
    const server = await tally(compiled, ["balance", "team:x", "--server", "ftp://x"]);
    assert.equal(server.code, 2, server.stderr);
    assert.equal(server.stderr, 'tally: --server "ftp://x" must start with http:// or https://\n');
    const option = await tally(compiled, ["balance", "--bogus"]);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^tally: unknown option '--bogus'/);
    assertLight({ ...option, code: 0 }, "tally balance --bogus (compiled)", [], []);
  });
});
