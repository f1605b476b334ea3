// `tally instances import FILE`, run as the real binary against a real server.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { teamId } from "./support/ledger-fixtures.js";
import { instanceClient, type InstanceClient } from "./support/instances.js";
import { tallyBin } from "./support/tally-process.js";
import { grpcStatus, startTestTally, type TestTally } from "./support/test-tally.js";

const run = promisify(execFile);

async function tally(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [tallyBin, ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("tally instances import", () => {
  let t: TestTally;
  let client: InstanceClient;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-import-"));
  before(async () => {
    t = await startTestTally();
    client = instanceClient(t);
  });
  after(async () => {
    client?.close();
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const stored = (id: string) =>
    client.methods.getWorkspaceInstance({ id }).then(
      () => true,
      (error: { code: number }) => (error.code === grpcStatus.NOT_FOUND ? false : Promise.reject(error)),
    );

  it("imports the good lines in batches, rejects the bad ones by line number, and exits 1", async () => {
    const team = teamId();
    const good = (id: string) =>
      JSON.stringify({
        id,
        workspaceId: `ws-${id.slice(0, 6)}`,
        attributionId: team,
        workspaceClass: "g1-standard",
        startedTime: "2026-01-14T10:00:00Z",
        stoppedTime: "2026-01-14T11:00:00.500Z",
      });
    const ids: string[] = [];
    const lines: string[] = [];
    for (let i = 1; i <= 2506; i++) {
      const id = randomUUID();
      if (i === 3) lines.push("{not json");
      else if (i === 10) lines.push(JSON.stringify({ id, workspaceId: "ws", nope: 1 }));
      else if (i === 50) lines.push("   ");
      else if (i === 1200) lines.push(JSON.stringify({ id, workspaceId: "ws", attributionId: "team:42" }));
      else if (i === 1500) lines.push(JSON.stringify({ id, workspaceId: "x".repeat(1024 * 1024) }));
      else if (i === 2100) {
        // Valid for the CLI, but ahead of the server's (test) clock: only the server can reject it.
        ids.push(id);
        lines.push(JSON.stringify({ id, workspaceId: "ws", startedTime: "2026-06-01T00:00:00Z" }));
      } else {
        ids.push(id);
        lines.push(good(id));
      }
    }
    const file = path.join(dir, "instances.jsonl");
    fs.writeFileSync(file, lines.join("\n") + "\n");
    const result = await tally(["instances", "import", file, "--server", t.tally.url, "--no-progress"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^accepted 2500 lines, rejected 5 lines of /m);
    assert.match(result.stdout, /^ {2}line 3: not JSON/m);
    assert.match(result.stdout, /^ {2}line 10: not a usage\.v1\.WorkspaceInstance: .*nope/m);
    assert.match(result.stdout, /^ {2}line 1200: instance\.attribution_id "team:42"/m);
    assert.match(result.stdout, /^ {2}line 1500: longer than 1048576 bytes/m);
    assert.match(result.stdout, /^ {2}line 2100: instance\.started_time 2026-06-01T00:00:00\.000Z is more than 24 hours ahead/m);
    const serverRejected = ids.splice(ids.indexOf(JSON.parse(lines[2099]!).id), 1)[0]!;
    assert.equal(await stored(serverRejected), false);
    for (const id of [ids[0]!, ids[999]!, ids[2090]!, ids[2091]!, ids[ids.length - 1]!]) assert.equal(await stored(id), true, id);
    const sample = await client.methods.getWorkspaceInstance({ id: ids[5]! });
    assert.equal(sample.attributionId, team);
    assert.equal(sample.stoppedTime.seconds, String(Date.parse("2026-01-14T11:00:00Z") / 1000));
    assert.equal(sample.stoppedTime.nanos, 500_000_000);
  });

  it("accepts CRLF line endings and snake_case field names, and exits 0 when all lines are good", async () => {
    const ids = Array.from({ length: 3 }, () => randomUUID());
    const file = path.join(dir, "crlf.jsonl");
    fs.writeFileSync(file, ids.map((id) => JSON.stringify({ id, workspace_id: "ws", user_name: "Ada" })).join("\r\n"));
    const result = await tally(["instances", "import", file, "--server", t.tally.url, "--no-progress"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^accepted 3 lines, rejected 0 lines/);
    assert.equal((await client.methods.getWorkspaceInstance({ id: ids[2]! })).userName, "Ada");
  });

  it("exits 2 when the file does not exist", async () => {
    const result = await tally(["instances", "import", path.join(dir, "missing.jsonl"), "--server", t.tally.url]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /missing\.jsonl: no such file/);
  });
});
