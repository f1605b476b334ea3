// The `tally` command: the real binary (node bin/tally.mjs) against a real server, checking stdout,
// stderr and exit codes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { bookInstanceUsage, teamId } from "./support/ledger-fixtures.js";
import { createTestDatabase } from "./support/test-database.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";
import { countKeys } from "../src/store/idempotency-keys.js";

const root = path.join(import.meta.dirname, "..");
const adminToken = "cli-admin-token-0123456789";
const readerToken = "cli-reader-token-0123456789";

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function tally(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, "bin/tally.mjs"), ...args],
      { cwd: root, env: { ...process.env, TALLY_SERVER: undefined, TALLY_TOKEN: undefined, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** Minimal RFC 4180 reader for the test: quoted fields may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(field), (field = "");
    else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field), rows.push(row), (row = []), (field = ""), i++;
    } else field += c;
  }
  assert.equal(field, "", "the CSV ends with a line break");
  return rows;
}

describe("tally CLI", () => {
  let t: TestTally;
  let env: Record<string, string>;
  before(async () => {
    t = await startTestTally({ env: { TALLY_API_TOKENS: `ops:admin:${adminToken},viewer:reader:${readerToken}` } });
    env = { TALLY_SERVER: t.tally.url, TALLY_TOKEN: adminToken };
  });
  after(async () => {
    await t?.stop();
  });

  it("shows help for every command and exits 0", async () => {
    const top = await tally(["--help"]);
    assert.equal(top.code, 0);
    for (const command of ["serve", "migrate", "balance", "usage", "credit", "cost-center", "reset", "reconcile", "audit"]) {
      assert.match(top.stdout, new RegExp(`^  ${command}\\b`, "m"), command);
    }
    const sub = await tally(["usage", "ls", "--help"]);
    assert.equal(sub.code, 0);
    assert.match(sub.stdout, /--csv/);
    assert.match(sub.stdout, /--server <url>/);
  });

  it("adds a credit note, shows the balance, and records who did it", async () => {
    const id = teamId();
    const added = await tally(["credit", "add", id, "40", "--reason", "goodwill, after the outage"], env);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, `added a credit note of 40 credits to ${id}; balance is now -40 credits\n`);
    const balance = await tally(["balance", id], env);
    assert.equal(balance.stdout, "-40 credits\n");
    assert.deepEqual(JSON.parse((await tally(["balance", id, "--json"], env)).stdout), { attributionId: id, credits: -40 });
    const audit = await tally(["audit", "ls", id, "--json"], { ...env, TALLY_TOKEN: readerToken });
    assert.equal(audit.code, 0, audit.stderr);
    const [entry, ...rest] = audit.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(rest.length, 0);
    assert.equal(entry.actor, "ops");
    assert.equal(entry.procedure, "usage.v1.UsageService/AddUsageCreditNote");
    assert.deepEqual(entry.details, { attributionId: id, credits: 40, description: "goodwill, after the outage" });
    const table = await tally(["audit", "ls", id], env);
    assert.match(table.stdout, /^TIME +ACTOR +CALL +ATTRIBUTION +OUTCOME +DETAILS\n.*ops +UsageService\/AddUsageCreditNote +team:\S+ +OK +\{.*"credits":40/);
  });

  it("subtracts credits with a negative credit note (a debit), as Gitpod's admin dashboard does", async () => {
    const id = teamId();
    assert.equal((await tally(["credit", "add", id, "100", "--reason", "welcome"], env)).code, 0);
    const subtracted = await tally(["credit", "subtract", id, "30", "--reason", "given twice by mistake"], env);
    assert.equal(subtracted.code, 0, subtracted.stderr);
    assert.equal(subtracted.stdout, `subtracted 30 credits from ${id}; balance is now -70 credits\n`);
    const audit = await tally(["audit", "ls", id, "--json"], env);
    const details = audit.stdout.trim().split("\n").map((line) => JSON.parse(line).details);
    assert.ok(details.some((d) => d.credits === -30 && d.description === "given twice by mistake"), audit.stdout);
    const bad = await Promise.all([
      tally(["credit", "subtract", id, "-5", "--reason", "x"], env),
      tally(["credit", "subtract", id, "0", "--reason", "x"], env),
      tally(["credit", "subtract", id, "5", "--reason", " "], env),
    ]);
    for (const run of bad) assert.equal(run.code, 2, run.stderr);
    assert.match(bad[1]!.stderr, /CREDITS 0 must be between 1 and 100000000/);
    assert.equal((await tally(["balance", id], env)).stdout, "-70 credits\n");
  });

  it("sends one idempotency key per credit note, so the same command run again with --idempotency-key books once", async () => {
    const id = teamId();
    const keysBefore = await countKeys(t.tally.database.db);
    assert.equal((await tally(["credit", "add", id, "5", "--reason", "first run"], env)).code, 0);
    // The command made up its own key (one per run), stored with the credit note.
    assert.equal(await countKeys(t.tally.database.db), keysBefore + 1);
    const key = `script-${teamId()}`;
    for (let run = 0; run < 2; run++) {
      const added = await tally(["credit", "add", id, "7", "--reason", "scripted", "--idempotency-key", key], env);
      assert.equal(added.code, 0, added.stderr);
      assert.equal(added.stdout, `added a credit note of 7 credits to ${id}; balance is now -12 credits\n`);
    }
    const reused = await tally(["credit", "add", id, "8", "--reason", "scripted", "--idempotency-key", key], env);
    assert.equal(reused.code, 16, reused.stderr);
    assert.match(reused.stderr, /^tally: ALREADY_EXISTS: idempotency key "script-team:\S+" was already used for a different request/);
  });

  it("gets and sets a cost center, keeping what is not given", async () => {
    const id = teamId();
    const got = await tally(["cost-center", "get", id, "--json"], env);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual(JSON.parse(got.stdout), {
      attributionId: id,
      spendingLimit: 0,
      billingStrategy: "other",
      billingCycleStart: "2026-01-15T12:00:00.000Z",
      nextBillingTime: "2026-02-15T12:00:00.000Z",
    });
    const set = await tally(["cost-center", "set", id, "--limit", "750"], env);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^spending limit +750 credits$/m);
    assert.match(set.stdout, /^billing strategy +other$/m);
    const stripe = await tally(["cost-center", "set", id, "--strategy", "stripe"], env);
    assert.equal(stripe.code, 19, "FAILED_PRECONDITION: Stripe is not configured");
    assert.match(stripe.stderr, /^tally: FAILED_PRECONDITION: billing is not configured/);
  });

  it("lists one page of usage as a table", async () => {
    const id = teamId();
    await bookInstanceUsage(t.tally.database.db, [
      { attributionId: id, creditCents: 150n, effectiveTime: new Date("2026-01-10T08:00:00Z") },
      { attributionId: id, creditCents: 25n, effectiveTime: new Date("2026-01-11T08:00:00Z"), draft: true },
    ]);
    const run = await tally(["usage", "ls", id, "--from", "2026-01-01", "--to", "2026-01-15", "--per-page", "1"], env);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^TIME +CREDITS +STATE +INSTANCE +CLASS +USER +DESCRIPTION$/);
    assert.match(lines[1]!, /^2026-01-11T08:00:00\.000Z +0\.25 +draft +[0-9a-f-]{36} +g1-standard +Usage of test instance$/);
    assert.equal(lines[2], "page 1 of 2, 2 entries, 1.75 credits used from 2026-01-01T00:00:00.000Z to 2026-01-15T00:00:00.000Z");
    const tooLong = await tally(["usage", "ls", id, "--from", "2024-01-01", "--to", "2026-01-01"], env);
    assert.equal(tooLong.code, 2);
    assert.match(tooLong.stderr, /export any range with --csv or --json/);
  });

  it("exports every entry of a range longer than 300 days as CSV, over many pages, newest first", async () => {
    const id = teamId();
    const start = Date.parse("2024-03-01T00:00:00Z");
    const count = 2600;
    const seeded = await bookInstanceUsage(
      t.tally.database.db,
      Array.from({ length: count }, (_, i) => ({
        attributionId: id,
        creditCents: BigInt(i + 1),
        // Spread over ~650 days: three 300-day windows, each with more than one page of 1000.
        effectiveTime: new Date(start + i * 6 * 60 * 60 * 1000),
      })),
    );
    const run = await tally(["usage", "ls", id, "--csv", "--from", "2024-03-01", "--to", "2026-01-01"], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const [header, ...rows] = parseCsv(run.stdout);
    assert.deepEqual(header, [
      "id", "attribution_id", "effective_time", "credits", "kind", "draft", "workspace_instance_id",
      "workspace_id", "workspace_class", "workspace_type", "runtime_seconds", "user_id", "description", "metadata",
    ]);
    assert.equal(rows.length, count);
    assert.deepEqual(new Set(rows.map((r) => r[0])), new Set(seeded.map((e) => e.id)));
    const times = rows.map((r) => Date.parse(r[2]!));
    assert.ok(times.every((time, i) => i === 0 || time < times[i - 1]!), "strictly newest first across windows and pages");
    const cents = rows.reduce((sum, r) => sum + Math.round(Number(r[3]) * 100), 0);
    assert.equal(cents, (count * (count + 1)) / 2);
    assert.deepEqual(rows[0]!.slice(4, 6), ["workspace_instance", "false"]);
    assert.equal(JSON.parse(rows[0]![13]!).workspaceClass, "g1-standard");
  });

  it("exports JSON Lines in ascending order, filtered by user, and CSV-quotes awkward text", async () => {
    const id = teamId();
    const user = "4d4bb4a5-59a3-4f1a-8d4c-4b4ad0f7d5d5";
    await bookInstanceUsage(t.tally.database.db, [
      { attributionId: id, creditCents: 100n, effectiveTime: new Date("2025-06-01T00:00:00Z"), userId: user },
      { attributionId: id, creditCents: 200n, effectiveTime: new Date("2025-05-01T00:00:00Z"), userId: user },
      { attributionId: id, creditCents: 300n, effectiveTime: new Date("2025-07-01T00:00:00Z") },
    ]);
    const run = await tally(["usage", "ls", id, "--json", "--order", "asc", "--user", user, "--from", "2025-01-01", "--to", "2026-01-01"], env);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((l) => [l.effectiveTime, l.credits, l.metadata.userId]), [
      ["2025-05-01T00:00:00.000Z", 2, user],
      ["2025-06-01T00:00:00.000Z", 1, user],
    ]);
  });

  it("prints the gRPC code and message, no stack trace, with a distinct exit code", async () => {
    const bad = await tally(["balance", "team:nope"], env);
    assert.equal(bad.code, 13);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /^tally: INVALID_ARGUMENT: attribution_id "team:nope": the part after "team:" .*\n$/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);

    const anonymous = await tally(["balance", teamId()], { ...env, TALLY_TOKEN: undefined });
    assert.equal(anonymous.code, 26);
    assert.match(anonymous.stderr, /^tally: UNAUTHENTICATED: .*\(set TALLY_TOKEN to an API token\)\n$/);

    const reader = await tally(["credit", "add", teamId(), "5", "--reason", "x"], { ...env, TALLY_TOKEN: readerToken });
    assert.equal(reader.code, 17);
    assert.match(reader.stderr, /^tally: PERMISSION_DENIED: token "viewer" has role reader/);

    const reconcile = await tally(["reconcile", "--from", "2026-01-01", "--to", "2026-01-02"], env);
    assert.equal(reconcile.code, 0, reconcile.stderr);
    assert.equal(reconcile.stdout, "reconciled usage from 2026-01-01T00:00:00.000Z to 2026-01-02T00:00:00.000Z: 0 created, 0 updated, 0 finalized\n");

    const inverted = await tally(["reconcile", "--from", "2026-01-02", "--to", "2026-01-01"], env);
    assert.equal(inverted.code, 2, inverted.stderr);
    assert.match(inverted.stderr, /--from 2026-01-02T00:00:00.000Z must not be after --to/);
  });

  it("shows account status and lifts a block with a reason, readers may look but not unblock", async () => {
    const id = teamId();
    await t.tally.billing.accounts.block({ attributionId: id, reason: "charge disputed", source: `test:${id}` });
    const status = await tally(["account", "status", id, "--json"], env);
    assert.equal(status.code, 4, status.stderr); // blocked: may not start a workspace
    const view = JSON.parse(status.stdout);
    assert.equal(view.blocked, true);
    assert.equal(view.reason, "charge disputed");
    assert.equal(view.spendingLimit, 0);
    assert.equal(view.limitReached, true);
    const readerUnblock = await tally(["account", "unblock", id, "--reason", "paid"], { ...env, TALLY_TOKEN: readerToken });
    assert.equal(readerUnblock.code, 17, readerUnblock.stderr); // 10 + PERMISSION_DENIED (7)
    const unblock = await tally(["account", "unblock", id, "--reason", "dispute won"], env);
    assert.equal(unblock.code, 0, unblock.stderr);
    assert.match(unblock.stdout, /lifted 1 block/);
    const table = await tally(["account", "status", id], env);
    assert.match(table.stdout, /blocked +no/);
  });

  it("resets expired cycles", async () => {
    const reset = await tally(["reset"], env);
    assert.equal(reset.code, 0, reset.stderr);
    assert.match(reset.stdout, /^reset done/);
  });

  it("imports instances with the token from TALLY_TOKEN and the server from TALLY_SERVER, and exits with the server's code", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-cli-import-"));
    try {
      const file = path.join(dir, "instances.jsonl");
      fs.writeFileSync(file, JSON.stringify({ id: crypto.randomUUID(), workspaceId: "ws-import" }) + "\n");
      const args = ["instances", "import", file, "--no-progress"];
      const admin = await tally(args, env);
      assert.equal(admin.code, 0, admin.stderr);
      assert.match(admin.stdout, /^accepted 1 lines, rejected 0 lines/);
      const reader = await tally(args, { ...env, TALLY_TOKEN: readerToken });
      assert.equal(reader.code, 17, reader.stderr);
      assert.match(reader.stderr, /^tally: PERMISSION_DENIED: import stopped at lines 1-1: token "viewer" has role reader/);
      const anonymous = await tally(args, { ...env, TALLY_TOKEN: undefined });
      assert.equal(anonymous.code, 26, anonymous.stderr);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exits 24 with a hint when no server answers, and 2 on a bad command line", async () => {
    const closed = await tally(["balance", teamId(), "--server", "http://127.0.0.1:1"]);
    assert.equal(closed.code, 24);
    assert.match(closed.stderr, /^tally: UNAVAILABLE: .*is a Tally server running at http:\/\/127\.0\.0\.1:1\?/);
    const usage = await Promise.all([
      tally(["balance"], env),
      tally(["usage", "ls", teamId(), "--from", "yesterday"], env),
      tally(["usage", "ls", teamId(), "--from", "2026-01-01T10:00:00"], env),
      tally(["usage", "ls", teamId(), "--csv", "--json"], env),
      tally(["credit", "add", teamId(), "1.5", "--reason", "x"], env),
      tally(["credit", "add", teamId(), "5"], env),
      tally(["cost-center", "set", teamId()], env),
      tally(["cost-center", "set", teamId(), "--strategy", "free"], env),
      tally(["balance", teamId(), "--server", "localhost:9001"], env),
      tally(["no-such-command"], env),
    ]);
    for (const run of usage) assert.equal(run.code, 2, run.stderr);
    assert.match(usage[1]!.stderr, /--from "yesterday" is not a date/);
    assert.match(usage[4]!.stderr, /CREDITS "1.5" must be a whole number/);
    assert.match(usage[5]!.stderr, /required option '--reason <text>'/);
  });
});

describe("tally migrate", () => {
  it("applies the migrations to a fresh database and exits 0, also when run again", async () => {
    const database = await createTestDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-migrate-"));
    try {
      const env = database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { DATABASE_URL: "", TALLY_DATA_DIR: dataDir };
      for (let i = 0; i < 2; i++) {
        const run = await tally(["migrate"], env);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /^migrations applied: (PostgreSQL|embedded PGlite in)/);
      }
      const bad = await tally(["migrate"], { ...env, TALLY_LEDGER_INTERVAL: "soon" });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^tally: ledgerInterval "soon" is not a duration/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    }
  });
});
