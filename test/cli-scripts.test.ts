// The `tally` command in scripts: run by /bin/sh as a script would, checking exit codes (account
// status gates a workspace start), reconcile's counts, that a `--kind all` CSV export adds up to the
// balance, `credit ls`, and one error format.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CostCenter_BillingStrategy } from "../src/gen/usage/v1/usage_pb.js";
import { instanceClient, instanceReport, ts, type InstanceClient } from "./support/instances.js";
import { bookInstanceUsage, teamId, userId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const root = path.join(import.meta.dirname, "..");
const minute = 60_000;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a shell script with `tally` on hand as a function, as an operator's script would call it. */
function sh(script: string, env: Record<string, string>): Promise<Run> {
  const prelude = `tally() { "${process.execPath}" "${path.join(root, "bin/tally.mjs")}" "$@"; }\n`;
  return new Promise((resolve) => {
    execFile("/bin/sh", ["-c", prelude + script], { cwd: root, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe("tally CLI in scripts", () => {
  let t: TestTally;
  let env: Record<string, string>;
  let instances: InstanceClient;
  before(async () => {
    // Access control is off here (test/cli.test.ts covers tokens): the test's own clients need none.
    t = await startTestTally();
    env = { TALLY_SERVER: t.tally.url, TALLY_TOKEN: "" };
    instances = instanceClient(t);
  });
  after(async () => {
    instances?.close();
    await t?.stop();
  });

  it("account status exits 0 when a workspace may start, 3 at the spending limit, 4 when blocked; --json prints it all", async () => {
    const fresh = teamId(); // never seen: the teams' default limit of 0 is reached
    const user = userId(); // never seen: 500 credits left
    const blocked = userId();
    await t.tally.billing.accounts.block({ attributionId: blocked, reason: "charge disputed", source: `test:${blocked}` });
    const gate = (id: string) => sh(`if tally account status ${id} >/dev/null; then echo start; else echo "refused $?"; fi`, env);
    assert.equal((await gate(user)).stdout, "start\n");
    assert.equal((await gate(fresh)).stdout, "refused 3\n");
    assert.equal((await gate(blocked)).stdout, "refused 4\n");

    const json = await sh(`tally account status ${fresh} --json`, env);
    assert.equal(json.code, 3, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), {
      attributionId: fresh,
      mayStartWorkspace: false,
      status: "reached",
      blocked: false,
      balanceCredits: 0,
      spendingLimit: 0,
      limitReached: true,
      almostReached: false,
      legacyPrice: false,
    });
    const blockedJson = JSON.parse((await sh(`tally account status ${blocked} --json`, env)).stdout);
    assert.equal(blockedJson.status, "blocked");
    assert.equal(blockedJson.reason, "charge disputed");
    assert.equal(blockedJson.mayStartWorkspace, false);
    const table = await sh(`tally account status ${user}`, env);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /may start +yes/);
    // Lifting the limit lets the team start.
    await t.usage.setCostCenter({ costCenter: { attributionId: fresh, spendingLimit: 10, billingStrategy: CostCenter_BillingStrategy.OTHER } });
    assert.equal((await gate(fresh)).stdout, "start\n");
  });

  it("reconcile prints how many entries it created, updated and finalized", async () => {
    const now = t.clock.now();
    const report = instanceReport({ attributionId: teamId(), workspaceClass: "g1-standard", startedTime: new Date(now.getTime() - 10 * minute) });
    await instances.methods.upsertWorkspaceInstances({ instances: [report] });
    const window = `--from ${new Date(now.getTime() - 60 * minute).toISOString()} --to ${new Date(now.getTime() + 60 * minute).toISOString()}`;
    const first = await sh(`tally reconcile ${window}`, env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /: 1 created, 0 updated, 0 finalized\n$/);
    t.clock.advanceMs(5 * minute);
    const stop = t.clock.now();
    await instances.methods.upsertWorkspaceInstances({ instances: [{ ...report, stoppingTime: ts(stop), stoppedTime: ts(stop) }] });
    const second = await sh(`tally reconcile ${window}`, env);
    assert.match(second.stdout, /: 0 created, 1 updated, 1 finalized\n$/);
    const third = await sh(`tally reconcile ${window}`, env);
    assert.match(third.stdout, /: 0 created, 0 updated, 0 finalized\n$/);
  });

  it("usage ls --kind all --csv adds up to the balance: usage, credit notes and invoices, with workspace columns", async () => {
    const id = teamId();
    const user = randomUUID();
    await t.usage.setCostCenter({ costCenter: { attributionId: id, spendingLimit: 1000, billingStrategy: CostCenter_BillingStrategy.OTHER } });
    await bookInstanceUsage(t.tally.database.db, [
      { attributionId: id, creditCents: 1_234n, effectiveTime: new Date("2025-12-01T10:00:00Z"), userId: user, workspaceClass: "g1-large" },
      { attributionId: id, creditCents: 99n, effectiveTime: new Date("2026-01-10T10:00:00Z"), draft: true },
    ]);
    await t.usage.addUsageCreditNote({ attributionId: id, credits: 7, description: "outage, 2026-01-12", userId: user });
    const csv = `tally usage ls ${id} --kind all --csv --from 2020-01-01 --to 2027-01-01`;
    // The credits column summed in cents by the shell's own tools equals the balance.
    const total = await sh(`${csv} | awk -F, 'NR > 1 { cents += sprintf("%.0f", $4 * 100) } END { print cents }'`, env);
    assert.equal(total.code, 0, total.stderr);
    const balance = await sh(`tally balance ${id} --json`, env);
    assert.equal(Number(total.stdout.trim()), Math.round(JSON.parse(balance.stdout).credits * 100));
    assert.equal(Number(total.stdout.trim()), 1_234 + 99 - 700);

    const run = await sh(csv, env);
    const lines = run.stdout.split("\r\n").filter((line) => line !== "");
    assert.equal(lines[0], "id,attribution_id,effective_time,credits,kind,draft,workspace_instance_id,workspace_id,workspace_class,workspace_type,runtime_seconds,user_id,description,metadata");
    // Newest first, the credit note (booked at the test clock's now, 2026-01-15) among the usage.
    assert.deepEqual(
      lines.slice(1).map((line) => line.split(",").slice(3, 6)),
      [
        ["-7", "credit_note", "false"],
        ["0.99", "workspace_instance", "true"],
        ["12.34", "workspace_instance", "false"],
      ],
    );
    assert.match(lines[1]!, /,"outage, 2026-01-12",/);
    const onlyNotes = await sh(`tally usage ls ${id} --kind credit_note --json --from 2020-01-01 --to 2027-01-01`, env);
    assert.deepEqual(onlyNotes.stdout.trim().split("\n").map((line) => JSON.parse(line).credits), [-7]);
    const tableWithKind = await sh(`tally usage ls ${id} --kind all`, env);
    assert.equal(tableWithKind.code, 2);
    assert.match(tableWithKind.stderr, /^tally: --kind all needs --csv or --json/);
  });

  it("the CSV carries workspace id, class, type and runtime seconds of a reconciled instance", async () => {
    const id = teamId();
    const now = t.clock.now();
    const started = new Date(now.getTime() - 30 * minute);
    const stopped = new Date(now.getTime() - 5 * minute);
    const report = instanceReport({ attributionId: id, workspaceClass: "g1-standard", workspaceType: "prebuild", startedTime: started });
    await instances.methods.upsertWorkspaceInstances({ instances: [{ ...report, stoppingTime: ts(stopped), stoppedTime: ts(stopped) }] });
    await sh(`tally reconcile --from ${new Date(now.getTime() - 60 * minute).toISOString()} --to ${now.toISOString()}`, env);
    const run = await sh(`tally usage ls ${id} --kind all --csv --from 2020-01-01 --to 2027-01-01`, env);
    const row = run.stdout.split("\r\n")[1]!.split(",");
    assert.deepEqual(row.slice(7, 11), [String(report.workspaceId), "g1-standard", "prebuild", String(25 * 60)]);
  });

  it("credit ls lists credit notes and invoices; a page past the last is refused, not shown as page 3 of 1", async () => {
    const id = userId();
    await t.usage.addUsageCreditNote({ attributionId: id, credits: 3, description: "goodwill" });
    await t.usage.addUsageCreditNote({ attributionId: id, credits: 4, description: "outage" });
    const list = await sh(`tally credit ls ${id}`, env);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^TIME +KIND +CREDITS +USER +DESCRIPTION$/);
    assert.equal(lines.length, 4);
    assert.match(lines[1]!, /credit_note +-[34] /);
    assert.equal(lines[3], "page 1 of 1, 2 entries");
    const past = await sh(`tally credit ls ${id} --per-page 1 --page 3`, env);
    assert.equal(past.code, 2);
    assert.equal(past.stdout, "");
    assert.equal(past.stderr, "tally: --page 3 is past the last page: 2 entries fill 2 pages\n");
    const usagePast = await sh(`tally usage ls ${teamId()} --page 2`, env);
    assert.equal(usagePast.code, 2);
    assert.equal(usagePast.stderr, "tally: --page 2 is past the last page: 0 entries fill 1 page\n");
    const empty = await sh(`tally credit ls ${teamId()}`, env);
    assert.equal(empty.stdout, "page 1 of 1, 0 entries\n");
  });

  it("every error has one format: tally: message, on stderr", async () => {
    const runs = await Promise.all([
      sh("tally usage ls --bogus", env),
      sh("tally no-such-command", env),
      sh(`tally credit add ${teamId()} 5`, env),
      sh("tally balance team:nope", env),
      sh(`tally usage ls ${teamId()} --kind everything --csv`, env),
    ]);
    for (const run of runs) {
      assert.match(run.stderr, /^tally: \S/, run.stderr);
      assert.notEqual(run.code, 0);
    }
    assert.match(runs[4]!.stderr, /^tally: --kind "everything" must be one of workspace_instance, credit_note, invoice, all\n$/);
  });
});
