// Configuration: every key is checked at start and a problem names the key; `tally config check`
// validates without starting; the README's table is the one generated from the schema.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { configKeys, ConfigError, inspectConfig, loadConfig, type ConfigKey } from "../src/config.js";
import { configTable, readmePath, readmeWithTable } from "../scripts/config-table.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  return inspectConfig(env).problems;
}

function tally(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, "bin/tally.mjs"), ...args], { cwd: root, env }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** The environment of a child with none of the configuration's variables inherited. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.values(configKeys) as ConfigKey<unknown>[]) delete env[key.env];
  return { ...env, ...extra };
}

describe("configuration", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-config-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function configFile(content: unknown): string {
    const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
    return file;
  }

  it("gives every key's documented default when nothing is set, and every default passes its own check", () => {
    const config = loadConfig({});
    assert.equal(config.port, 9001);
    assert.equal(config.host, undefined);
    assert.equal(config.listenHost, "0.0.0.0");
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, "./data");
    assert.equal(config.ledgerIntervalMs, 60_000);
    assert.equal(config.resetIntervalMs, 15 * 60_000);
    assert.equal(config.invoiceIntervalMs, 3_600_000);
    assert.equal(config.jobsEnabled, true);
    assert.deepEqual(config.defaultSpendingLimit, { forTeams: 0, forUsers: 500 });
    assert.deepEqual(config.creditsPerMinuteByWorkspaceClass, {});
    assert.equal(config.stripe, undefined);
    assert.equal(config.logLevel, "info");
    assert.equal(config.apiTokens, undefined);
    assert.equal(config.limitWarningPercent, 80);
    assert.deepEqual(config.eventEndpoints, []);
    assert.equal(config.eventDeliveryTimeoutMs, 10_000);
    for (const [name, key] of Object.entries(configKeys) as [string, ConfigKey<unknown>][]) {
      if (key.default === undefined) continue;
      assert.ok(key.kind.schema.safeParse(key.default).success, `${name}: default ${key.default} is refused by its own kind`);
    }
  });

  it("reads TALLY_JOBS=false and the other spellings of off as off, and refuses a word it does not know", () => {
    for (const off of ["off", "false", "FALSE", "no", "0", " off "]) assert.equal(loadConfig({ TALLY_JOBS: off }).jobsEnabled, false, off);
    for (const on of ["on", "true", "yes", "1", "On"]) assert.equal(loadConfig({ TALLY_JOBS: on }).jobsEnabled, true, on);
    for (const [bad, shown] of [["disabled", '"disabled"'], ["nope", '"nope"'], ["2", "2"]]) {
      assert.throws(
        () => loadConfig({ TALLY_JOBS: bad }),
        (error: unknown) =>
          error instanceof ConfigError && error.message === `jobsEnabled ${shown} must be on or off (also true/false, yes/no, 1/0) (from TALLY_JOBS)`,
      );
    }
    assert.equal(loadConfig({ TALLY_CONFIG: configFile({ jobsEnabled: false }) }).jobsEnabled, false);
    assert.match(problemsOf({ TALLY_CONFIG: configFile({ jobsEnabled: "sometimes" }) })[0]!, /^jobsEnabled "sometimes" must be on or off/);
  });

  it("names the key, the value and the variable when LOG_LEVEL is not a level", () => {
    assert.throws(
      () => loadConfig({ LOG_LEVEL: "loud" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === 'logLevel "loud" must be one of fatal, error, warn, info, debug, trace, silent (from LOG_LEVEL)',
    );
    assert.equal(loadConfig({ LOG_LEVEL: "DEBUG" }).logLevel, "debug");
  });

  it("refuses bad values of every kind with a message naming the key", () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ PORT: "70000" }, /^port 70000 must be between 0 and 65535 \(from PORT\)$/],
      [{ PORT: "90a" }, /^port "90a" must be an integer \(from PORT\)$/],
      [{ DATABASE_URL: "mysql://root@localhost/tally" }, /^databaseUrl "mysql:\/\/root@localhost\/tally" must be a URL like postgres:/],
      [{ TALLY_LEDGER_INTERVAL: "soon" }, /^ledgerInterval "soon" is not a duration like "90s", "1m" or "1h30m" \(from TALLY_LEDGER_INTERVAL\)$/],
      [{ TALLY_RESET_INTERVAL: "500ms" }, /^resetInterval "500ms" must be at least 1s/],
      [{ TALLY_DEFAULT_SPENDING_LIMIT_TEAMS: "-5" }, /^defaultSpendingLimit\.forTeams -5 must be between 0 and 2147483647/],
      [{ TALLY_DEFAULT_SPENDING_LIMIT_USERS: "1.5" }, /^defaultSpendingLimit\.forUsers 1\.5 must be an integer/],
      [{ TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: "{g1" }, /^creditsPerMinuteByWorkspaceClass "\{g1" must be a JSON object/],
      [{ TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: '{"g1-large":-1}' }, /^creditsPerMinuteByWorkspaceClass\.g1-large -1 must not be negative/],
      [{ STRIPE_SECRET_KEY: "sk_test_x", STRIPE_API_BASE: "localhost:12111" }, /^stripe\.apiBase "localhost:12111" must be a URL like http/],
      [{ TALLY_API_TOKENS: "ops:owner:0123456789abcdef0123" }, /^apiTokens entry 1 \(ops\): role "owner" must be admin or reader \(from TALLY_API_TOKENS\)$/],
    ];
    for (const [env, message] of cases) {
      const problems = problemsOf(env);
      assert.equal(problems.length, 1, `${JSON.stringify(env)}: ${problems.join("; ")}`);
      assert.match(problems[0]!, message);
    }
  });

  it("reports every problem at once", () => {
    assert.throws(
      () => loadConfig({ PORT: "x", LOG_LEVEL: "loud", TALLY_JOBS: "maybe" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^3 configuration problems:\n {2}- port "x" .*\n {2}- jobsEnabled "maybe" .*\n {2}- logLevel "loud" .*$/.test(error.message),
    );
  });

  it("never quotes a secret in a message", () => {
    const token = "ops:owner:s3cr3t-s3cr3t-s3cr3t";
    const problems = problemsOf({ TALLY_API_TOKENS: token, STRIPE_SECRET_KEY: "   " });
    assert.equal(problems.length, 2);
    for (const problem of problems) assert.doesNotMatch(problem, /s3cr3t/);
    assert.match(problems.join("\n"), /^stripe\.secretKey must not be empty \(from STRIPE_SECRET_KEY\)$/m);
  });

  it("refuses Stripe keys without STRIPE_SECRET_KEY instead of quietly leaving billing off", () => {
    const problems = problemsOf({ STRIPE_WEBHOOK_SECRET: "whsec_x", STRIPE_USAGE_PRICE_ID_EUR: "price_1" });
    assert.deepEqual(problems, [
      "STRIPE_WEBHOOK_SECRET, STRIPE_USAGE_PRICE_ID_EUR are set but STRIPE_SECRET_KEY is not: billing would stay off; set STRIPE_SECRET_KEY (stripe.secretKey) too, or remove them",
    ]);
    const config = loadConfig({ STRIPE_SECRET_KEY: "sk_test_x", STRIPE_USAGE_PRICE_ID_EUR: "price_1" });
    assert.deepEqual(config.stripe, { secretKey: "sk_test_x", webhookSecret: "", apiBase: undefined, usagePriceIds: { EUR: "price_1", USD: undefined } });
  });

  it("reads the JSON file, lets the environment win, and counts an empty variable as unset", () => {
    const file = configFile({
      port: 9100,
      ledgerInterval: "90s",
      jobsEnabled: false,
      defaultSpendingLimit: { forTeams: 100 },
      creditsPerMinuteByWorkspaceClass: { "g1-large": 0.5 },
      stripe: { secretKey: "sk_test_file", usagePriceIds: { USD: "price_usd" } },
      logLevel: "warn",
    });
    const config = loadConfig({ TALLY_CONFIG: file, PORT: "9200", LOG_LEVEL: "" });
    assert.equal(config.port, 9200);
    assert.equal(config.logLevel, "warn");
    assert.equal(config.ledgerIntervalMs, 90_000);
    assert.equal(config.jobsEnabled, false);
    assert.deepEqual(config.defaultSpendingLimit, { forTeams: 100, forUsers: 500 });
    assert.deepEqual(config.creditsPerMinuteByWorkspaceClass, { "g1-large": 0.5 });
    assert.equal(config.priceTable.milliCentsPerHourByClass.get("g1-large"), 3_000_000n);
    assert.equal(config.stripe?.secretKey, "sk_test_file");
    assert.equal(config.stripe?.usagePriceIds.USD, "price_usd");
    const sources = new Map(inspectConfig({ TALLY_CONFIG: file, PORT: "9200" }).entries.map((entry) => [entry.key.env, entry.source]));
    assert.equal(sources.get("PORT"), "environment");
    assert.equal(sources.get("TALLY_LEDGER_INTERVAL"), "file");
    assert.equal(sources.get("TALLY_RESET_INTERVAL"), "default");
    assert.equal(sources.get("DATABASE_URL"), "unset");
  });

  it("refuses a misspelt key in the file, and a file that is not a JSON object", () => {
    const file = configFile({ ledgerIntervall: "1m", stripe: { secretkey: "sk" }, port: 9100 });
    assert.deepEqual([...problemsOf({ TALLY_CONFIG: file })].sort(), [
      `TALLY_CONFIG ${file}: unknown key "ledgerIntervall" (the README's configuration table lists the file keys)`,
      `TALLY_CONFIG ${file}: unknown key "stripe.secretkey" (the README's configuration table lists the file keys)`,
    ]);
    const notObject = configFile("[1, 2]");
    assert.match(problemsOf({ TALLY_CONFIG: notObject })[0]!, /^TALLY_CONFIG .* is not a JSON object/);
    assert.match(problemsOf({ TALLY_CONFIG: path.join(dir, "missing.json") })[0]!, /^cannot read TALLY_CONFIG .*missing\.json/);
  });

  it("has one README table row per key, generated from the schema", () => {
    const readme = fs.readFileSync(readmePath, "utf8");
    assert.equal(readme, readmeWithTable(readme), "README.md's configuration table is stale: run `npm run docs:config`");
    const table = configTable();
    for (const key of Object.values(configKeys) as ConfigKey<unknown>[]) {
      assert.ok(table.includes(`| \`${key.env}\` |`), `${key.env} is missing from the table`);
    }
    assert.equal(table.split("\n").length, Object.keys(configKeys).length + 2);
  });
});

describe("tally config check", () => {
  it("validates without starting, shows where each value came from and hides secrets", async () => {
    const ok = await tally(["config", "check"], cleanEnv({ TALLY_JOBS: "false", STRIPE_SECRET_KEY: "sk_test_hidden", PORT: "0", TALLY_AUTH: "off" }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^TALLY_JOBS\s+jobsEnabled\s+off\s+environment$/m);
    assert.match(ok.stdout, /^PORT\s+port\s+0\s+environment$/m);
    assert.match(ok.stdout, /^LOG_LEVEL\s+logLevel\s+info\s+default$/m);
    assert.match(ok.stdout, /^STRIPE_SECRET_KEY\s+stripe\.secretKey\s+\(set, hidden\)\s+environment$/m);
    assert.doesNotMatch(ok.stdout, /sk_test_hidden/);
    assert.match(ok.stdout, /configuration is valid\n$/);

    const json = await tally(["config", "check", "--json"], cleanEnv({ TALLY_JOBS: "off", TALLY_AUTH: "off" }));
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { valid: boolean; keys: { env: string; value: string; source: string }[] };
    assert.equal(parsed.valid, true);
    assert.deepEqual(
      parsed.keys.find((key) => key.env === "TALLY_JOBS"),
      { env: "TALLY_JOBS", file: "jobsEnabled", value: "off", source: "environment" },
    );
  });

  it("exits 2 naming each bad key, for the environment and for a --config file", async () => {
    const bad = await tally(["config", "check"], cleanEnv({ LOG_LEVEL: "loud" }));
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'tally: logLevel "loud" must be one of fatal, error, warn, info, debug, trace, silent (from LOG_LEVEL)\n');
    assert.equal(bad.stdout, "");

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-config-cli-"));
    try {
      const file = path.join(dir, "tally.json");
      fs.writeFileSync(file, JSON.stringify({ jobsEnabled: "perhaps", ledgerIntervall: "1m" }));
      const run = await tally(["config", "check", "--config", file], cleanEnv());
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^tally: 2 configuration problems:\n/);
      assert.match(run.stderr, /unknown key "ledgerIntervall"/);
      assert.match(run.stderr, /jobsEnabled "perhaps" must be on or off .*\(in .*tally\.json\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is what `tally serve` checks too: a bad switch stops the start with exit 2 before anything listens", async () => {
    const run = await tally(["serve"], cleanEnv({ TALLY_JOBS: "maybe", PORT: "0", TALLY_DATA_DIR: path.join(os.tmpdir(), "tally-never-created") }));
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'tally: jobsEnabled "maybe" must be on or off (also true/false, yes/no, 1/0) (from TALLY_JOBS)\n');
    assert.equal(fs.existsSync(path.join(os.tmpdir(), "tally-never-created")), false);
  });
});
