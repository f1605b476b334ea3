// A machine without Chromium: the browser tests skip with one line naming the install command,
// except under CI, where a missing browser fails the run. Simulated through the same lookup the
// browser tests use (CHROMIUM_PATH pointing nowhere), over every browser test file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { findChromium, installCommand, isCi, requireChromium } from "./support/browser.js";

const root = path.join(path.dirname(new URL(import.meta.url).pathname), "..");
const run = promisify(execFile);

/** Every browser test file: those that find Chromium through test/support/browser.ts. */
const browserTestFiles = fs
  .readdirSync(path.join(root, "test"))
  .filter((name) => name.endsWith(".test.ts") && name !== "browser-lookup.test.ts")
  .filter((name) => fs.readFileSync(path.join(root, "test", name), "utf8").includes('from "./support/browser.js"'))
  .map((name) => `test/${name}`)
  .sort();

/** Runs every browser test file as `npm test` would, with no browser at CHROMIUM_PATH. */
async function runBrowserTestsWithoutChromium(ci: string | undefined): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, CHROMIUM_PATH: path.join(root, "no-such-chromium") };
  delete env.NODE_TEST_CONTEXT; // else the child believes it reports to this runner
  if (ci === undefined) delete env.CI;
  else env.CI = ci;
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...browserTestFiles], { cwd: root, env });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

describe("finding the browser", () => {
  it("skips without CI, naming the install command, and never skips under CI", () => {
    const nowhere = "/nonexistent/chromium";
    const local = findChromium({ CHROMIUM_PATH: nowhere });
    assert.equal(local.found, false);
    assert.match(String(local.skip), new RegExp(`apt-get install chromium`));
    assert.equal(findChromium({ CHROMIUM_PATH: nowhere, CI: "true" }).skip, false);
    assert.equal(findChromium({ CHROMIUM_PATH: nowhere, CI: "1" }).skip, false);
    assert.notEqual(findChromium({ CHROMIUM_PATH: nowhere, CI: "false" }).skip, false);
    assert.throws(() => requireChromium(findChromium({ CHROMIUM_PATH: nowhere, CI: "true" })), /apt-get install chromium/);
    assert.equal(isCi({}), false);
    assert.equal(findChromium({ CHROMIUM_PATH: process.execPath }).skip, false, "an existing executable is used");
  });

  it("npm test without Chromium: each browser test file skips with one line naming the install command; under CI=true they fail", async () => {
    assert.ok(browserTestFiles.includes("test/dashboard-browser.test.ts"), browserTestFiles.join(", "));
    const [local, ci] = await Promise.all([runBrowserTestsWithoutChromium(undefined), runBrowserTestsWithoutChromium("true")]);
    assert.equal(local.code, 0, local.output);
    const lines = local.output.split("\n").filter((line) => line.includes(installCommand));
    assert.equal(lines.length, browserTestFiles.length, `one skip line per browser test file (${browserTestFiles.join(", ")}):\n${local.output}`);
    for (const line of lines) assert.match(line, /skipped/);
    assert.match(local.output, /\bfail 0\b/);
    assert.notEqual(ci.code, 0, `under CI a missing browser must fail the run:\n${ci.output}`);
    assert.match(ci.output, /CI is set so the browser tests may not skip/);
  });
});
