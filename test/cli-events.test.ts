// `tally endpoints` and `tally events`: the real binary against a real server and a webhook receiver.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";
import { startWebhookReceiver, type WebhookReceiver } from "./support/webhook-receiver.js";

const root = path.join(import.meta.dirname, "..");

function tally(args: readonly string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(root, "bin/tally.mjs"), ...args],
      { cwd: root, env: { ...process.env, TALLY_TOKEN: undefined, ...env } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe("tally endpoints and tally events", () => {
  let t: TestTally;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;
  before(async () => {
    receiver = await startWebhookReceiver([]);
    t = await startTestTally();
    env = { TALLY_SERVER: t.tally.url };
  });
  after(async () => {
    await t?.stop();
    await receiver?.close();
  });

  it("adds an endpoint, delivers to it, lists and redelivers events, removes it", async () => {
    const add = await tally(["endpoints", "add", receiver.url, "--events", "credit_note.added,limit.cleared", "--description", "platform"], env);
    assert.equal(add.code, 0, add.stderr);
    const id = /^added endpoint (\S+)$/m.exec(add.stdout)![1]!;
    receiver.secrets = [/^secret\s+(whsec_\S+)$/m.exec(add.stdout)![1]!];
    assert.match(add.stdout, /^events\s+limit.cleared, credit_note.added$/m);

    const team = teamId();
    const credit = await tally(["credit", "add", team, "25", "--reason", "welcome"], env);
    assert.equal(credit.code, 0, credit.stderr);
    await receiver.waitFor(() => receiver.requests.length === 1);
    assert.equal(receiver.requests[0]!.payload.type, "credit_note.added");
    assert.equal(receiver.requests[0]!.payload.data.creditCents, "-2500");
    await t.tally.events.dispatcher.settle();

    const ls = await tally(["events", "ls", "--attribution", team], env);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^TIME\s+EVENT ID\s+TYPE\s+ATTRIBUTION\s+DELIVERIES$/m);
    assert.match(ls.stdout, new RegExp(`${receiver.requests[0]!.webhookId}\\s+credit_note.added\\s+${team}\\s+delivered$`, "m"));
    const json = await tally(["events", "ls", "--json", "--endpoint", id], env);
    const [event] = json.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(event.payload.data.description, "welcome");
    assert.equal(event.deliveries[0].status, "delivered");
    assert.equal(event.deliveries[0].attempts[0].outcome, "delivered");
    assert.equal(event.deliveries[0].attempts[0].responseStatus, 204);

    const redeliver = await tally(["events", "redeliver", event.id], env);
    assert.equal(redeliver.code, 0, redeliver.stderr);
    assert.match(redeliver.stdout, /^scheduled 1 delivery of event /);
    await receiver.waitFor(() => receiver.requests.length === 2);
    assert.equal(receiver.requests[1]!.webhookId, event.id);

    const endpoints = await tally(["endpoints", "ls"], env);
    assert.match(endpoints.stdout, new RegExp(`^${id}\\s+api\\s+0\\s+0\\s+limit.cleared,credit_note.added\\s+${receiver.url.replace(/[./]/g, "\\$&")}$`, "m"));
    const rm = await tally(["endpoints", "rm", id], env);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /^removed endpoint .* \(0 pending deliveries canceled\)$/m);
    assert.equal((await tally(["endpoints", "ls"], env)).stdout, "no endpoints\n");
  });

  it("exits with 10 + the gRPC code and one line on stderr for what the server refuses", async () => {
    const unknown = await tally(["endpoints", "add", receiver.url, "--events", "limit.exceeded"], env);
    assert.equal(unknown.code, 13);
    assert.match(unknown.stderr, /^tally: INVALID_ARGUMENT: event_types\[0\] "limit.exceeded" is not an event type/);
    const missing = await tally(["endpoints", "rm", "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717"], env);
    assert.equal(missing.code, 15);
    assert.match(missing.stderr, /^tally: NOT_FOUND: endpoint .* does not exist/);
    const noEvents = await tally(["endpoints", "add", receiver.url], env);
    assert.equal(noEvents.code, 2);
    assert.match(noEvents.stderr, /--events/);
  });
});
