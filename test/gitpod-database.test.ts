// The read-only pool on Gitpod's database, through the MariaDB test harness.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { TallyError } from "../src/domain/tally-error.js";
import { openGitpodDatabase, type GitpodDatabase } from "../src/gitpod/gitpod-database.js";
import { createGitpodTestDatabase, type GitpodTestDatabase } from "./support/gitpod-database.js";

describe("Gitpod's database pool", () => {
  let gitpod: GitpodTestDatabase;
  let pool: GitpodDatabase;

  before(async () => {
    gitpod = await createGitpodTestDatabase();
    pool = openGitpodDatabase({ url: gitpod.url, connectTimeoutMs: 2000, queryTimeoutMs: 5000 });
  });
  after(async () => {
    await pool?.close();
    await gitpod?.drop();
  });

  test("reads what the harness wrote, with times as Gitpod's strings", async () => {
    const [id] = await gitpod.insertInstances([
      { usageAttributionId: "team:0b4b5e5c-5f43-4c6a-9f57-0a0f0d4c1a11", startedTime: new Date("2026-11-01T10:00:00Z"), stoppingTime: "" },
    ]);
    const rows = await pool.query<{ id: string; startedTime: string; stoppingTime: string }>(
      "SELECT id, startedTime, stoppingTime FROM d_b_workspace_instance WHERE id = ?",
      [id!],
    );
    assert.deepEqual(rows, [{ id, startedTime: "2026-11-01T10:00:00.000Z", stoppingTime: "" }]);
  });

  test("sessions are read-only: a write fails in the database itself", async () => {
    await assert.rejects(pool.query("INSERT INTO d_b_user (id) VALUES (?)", ["00000000-0000-4000-8000-000000000001"]), (error: unknown) => {
      assert.ok(error instanceof TallyError);
      assert.match(error.message, /READ ONLY|read.only/i);
      return true;
    });
    assert.deepEqual(await gitpod.rows("SELECT id FROM d_b_user"), []);
  });

  test("an unreachable database is Unavailable within the timeouts, naming it without the password", async () => {
    // A port that accepts connections and never answers: a stalled server.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const stalled = openGitpodDatabase({ url: `mysql://tally:secret@127.0.0.1:${port}/gitpod`, connectTimeoutMs: 300, queryTimeoutMs: 300 });
    const started = performance.now();
    try {
      await assert.rejects(stalled.ping(), (error: unknown) => {
        assert.ok(error instanceof TallyError);
        assert.equal(error.code, "Unavailable");
        assert.match(error.message, /Gitpod's database mysql:\/\/tally:\*\*\*\*@127\.0\.0\.1/);
        assert.doesNotMatch(error.message, /secret/);
        return true;
      });
      assert.ok(performance.now() - started < 3000, "answered within the timeouts");
    } finally {
      await stalled.close();
      silent.close();
    }
  });
});
