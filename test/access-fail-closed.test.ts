// Access control fails closed: a blank or unparsable TALLY_API_TOKENS stops the start, running
// without tokens takes an explicit TALLY_AUTH=off (and then listens on loopback unless HOST is set),
// and a read that creates a cost center leaves an audit row by "system" on behalf of the caller.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { configKeys, inspectConfig, loadConfig, servingProblems, type ConfigKey } from "../src/config.js";
import { AuditService } from "../src/gen/usage/v1/audit_pb.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = path.join(root, "bin", "tally.mjs");
const token = "ops:admin:0123456789abcdef0123";

/** The environment of a child with none of the configuration's variables inherited. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.values(configKeys) as ConfigKey<unknown>[]) delete env[key.env];
  return { ...env, ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe("access control fails closed", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-auth-"));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("refuses a blank or empty TALLY_API_TOKENS instead of turning access control off", () => {
    for (const blank of ["", " ", " , ,", "\t"]) {
      const problems = inspectConfig({ TALLY_API_TOKENS: blank }).problems;
      assert.equal(problems.length, 1, JSON.stringify(blank));
      assert.match(problems[0]!, /apiTokens is set but holds no tokens.*TALLY_AUTH=off.*\(from TALLY_API_TOKENS\)/);
    }
    assert.match(inspectConfig({ TALLY_API_TOKENS: "ops:admin" }).problems[0]!, /is not name:role:token/);
  });

  it("needs tokens or TALLY_AUTH=off to serve, and refuses both at once", () => {
    assert.match(servingProblems(loadConfig({}))[0]!, /access control is on but TALLY_API_TOKENS is not set.*TALLY_AUTH=off/);
    assert.deepEqual(servingProblems(loadConfig({ TALLY_API_TOKENS: token })), []);
    assert.deepEqual(servingProblems(loadConfig({ TALLY_AUTH: "off" })), []);
    assert.match(inspectConfig({ TALLY_AUTH: "off", TALLY_API_TOKENS: token }).problems[0]!, /TALLY_AUTH is off but TALLY_API_TOKENS is set/);
  });

  it("listens on 0.0.0.0 with tokens, on loopback with TALLY_AUTH=off, and wherever HOST says", () => {
    assert.equal(loadConfig({ TALLY_API_TOKENS: token }).listenHost, "0.0.0.0");
    assert.equal(loadConfig({ TALLY_AUTH: "off" }).listenHost, "127.0.0.1");
    assert.equal(loadConfig({ TALLY_AUTH: "off", HOST: "0.0.0.0" }).listenHost, "0.0.0.0");
  });

  it("`tally serve` with a blank TALLY_API_TOKENS or without any stops with exit 2 before anything listens", async () => {
    const neverCreated = path.join(dataDir, "never");
    for (const env of [{ TALLY_API_TOKENS: "" }, {}]) {
      const result = await run(["serve"], cleanEnv({ ...env, PORT: "0", TALLY_DATA_DIR: neverCreated }));
      assert.equal(result.code, 2, `${JSON.stringify(env)}: ${result.stderr}`);
      assert.match(result.stderr, /^tally: .*(holds no tokens|TALLY_API_TOKENS is not set)/);
      assert.equal(fs.existsSync(neverCreated), false);
    }
    const check = await run(["config", "check"], cleanEnv());
    assert.equal(check.code, 2);
    assert.match(check.stderr, /access control is on but TALLY_API_TOKENS is not set/);
  });

  it("`tally serve` with TALLY_AUTH=off says so at start and listens on 127.0.0.1 only", async () => {
    const child = spawn(process.execPath, [bin, "serve"], {
      env: cleanEnv({ TALLY_AUTH: "off", PORT: "0", TALLY_JOBS: "off", TALLY_DATA_DIR: path.join(dataDir, "off") }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const deadline = Date.now() + 180_000;
      while (!output.includes('"tally is serving"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      assert.match(output, /access control is off \(TALLY_AUTH=off\): every caller may read and change everything; listening on 127\.0\.0\.1 only/);
      assert.match(output, /"url":"http:\/\/127\.0\.0\.1:\d+".*"accessControl":"off"/);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});

describe("a read that creates a cost center", () => {
  const adminToken = "admin-token-0123456789abcdef";
  let t: TestTally;
  before(async () => {
    t = await startTestTally({ env: { TALLY_API_TOKENS: `ops:admin:${adminToken}` } });
  });
  after(async () => {
    await t?.stop();
  });

  it("is in the audit log as created by the system on behalf of the caller, once", async () => {
    const transport = createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" });
    const usage = createClient(UsageService, transport);
    const audit = createClient(AuditService, transport);
    const headers = { authorization: `Bearer ${adminToken}` };
    const id = teamId();
    await usage.getCostCenter({ attributionId: id }, { headers: { ...headers, "x-request-id": "read-1" } });
    await usage.getCostCenter({ attributionId: id }, { headers });
    const { entries } = await audit.listAuditEntries({ attributionId: id }, { headers });
    assert.equal(entries.length, 1);
    const [entry] = entries;
    assert.equal(entry!.actor, "system");
    assert.equal(entry!.procedure, "usage.v1.UsageService/GetCostCenter");
    assert.equal(entry!.outcome, "OK");
    assert.equal(entry!.requestId, "read-1");
    const details = JSON.parse(entry!.details);
    assert.equal(details.onBehalfOf, "ops");
    assert.equal(details.attributionId, id);
    assert.deepEqual(details.costCenter, { spendingLimit: 0, billingStrategy: "OTHER" });
  });
});
