// The database fails under the real server: PostgreSQL terminates its sessions, the network resets,
// refuses or stalls (a TCP proxy in between), and the process is told to stop in the middle of it.
// The server must stay up, answer UNAVAILABLE with a message in bounded time (never INTERNAL, never
// a hang), turn /readyz to 503, leave no session idle in a transaction holding locks, recover
// without a restart, and end within its shutdown grace.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import pg from "pg";
import { TallyError } from "../src/domain/tally-error.js";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { openDatabase } from "../src/store/database.js";
import { toTallyError } from "../src/store/pg-error.js";
import { FaultProxy } from "./support/fault-proxy.js";
import { spawnTally, type TallyProcess } from "./support/tally-process.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";
import { createTestDatabase, testStoreKind, type TestDatabase } from "./support/test-database.js";

const skip = testStoreKind === "pglite" ? "needs PostgreSQL (set DATABASE_URL): faults between Tally and a database server" : false;

/** Short timeouts, so that every bound below is a few seconds. */
const faultEnv = {
  TALLY_DATABASE_CONNECT_TIMEOUT: "1s",
  TALLY_DATABASE_QUERY_TIMEOUT: "2s",
  TALLY_DATABASE_STATEMENT_TIMEOUT: "1s",
  TALLY_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: "1s",
  TALLY_SHUTDOWN_GRACE: "3s",
};
/** An RPC during a fault answers within: query timeout + pool wait + the audit row's own wait + slack for a loaded CI machine. */
const answerWithinMs = 9_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The outcome of one call: "ok" or the gRPC code name, with how long it took. */
async function outcome(call: Promise<unknown>): Promise<{ code: string; message: string; ms: number }> {
  const started = performance.now();
  try {
    await call;
    return { code: "ok", message: "", ms: performance.now() - started };
  } catch (error) {
    const connect = ConnectError.from(error);
    return { code: Code[connect.code], message: connect.rawMessage, ms: performance.now() - started };
  }
}

describe("a database that fails or stalls under the server", { skip }, () => {
  let database: TestDatabase;
  let proxy: FaultProxy;
  let admin: pg.Client;
  let server: TallyProcess;
  let usage: Client<typeof UsageService>;
  const team = `team:${randomUUID()}`;

  before(async () => {
    database = await createTestDatabase();
    const target = new URL(database.databaseUrl!);
    proxy = await FaultProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    admin = new pg.Client({ connectionString: database.databaseUrl, application_name: "fault-test" });
    await admin.connect();
  });
  // Each test has a server of its own: one that a fault killed must not fail the next test.
  beforeEach(async () => {
    proxy.heal();
    server = await spawnTally({ DATABASE_URL: proxy.urlFor(database.databaseUrl!), TALLY_JOBS: "on", TALLY_LEDGER_INTERVAL: "1s", ...faultEnv });
    usage = createClient(UsageService, createGrpcTransport({ baseUrl: server.url, defaultTimeoutMs: 30_000 }));
  });
  afterEach(async () => {
    server.child.kill("SIGKILL");
    await server.exited;
  });
  after(async () => {
    await proxy?.close();
    await admin?.end().catch(() => {});
    await database?.drop();
  });

  const alive = () => server.child.exitCode === null && server.child.signalCode === null;
  const creditNote = (i: number) => usage.addUsageCreditNote({ attributionId: team, credits: 1, description: `note ${i}` });
  const http = async (path: string) => {
    const started = performance.now();
    const response = await fetch(`${server.url}${path}`, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, ms: performance.now() - started };
  };
  const tallySessions = async (state?: string) =>
    Number(
      (
        await admin.query(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tally' AND ($1::text IS NULL OR state = $1)",
          [state ?? null],
        )
      ).rows[0].n,
    );
  /** Waits until the server answers GetBalance again, and returns how long that took. */
  const recovery = async (boundMs: number) => {
    const started = performance.now();
    for (;;) {
      const result = await outcome(usage.getBalance({ attributionId: team }));
      if (result.code === "ok") return performance.now() - started;
      assert.equal(result.code, "Unavailable", `while recovering: ${result.code} ${result.message}`);
      assert.ok(performance.now() - started < boundMs, `no recovery within ${boundMs} ms`);
      await sleep(100);
    }
  };

  /** /readyz says 200 again within a few seconds of the database being back. */
  const readyAgain = async () => {
    const deadline = performance.now() + 5_000;
    while ((await http("/readyz")).status !== 200) {
      assert.ok(performance.now() < deadline, "/readyz still 503 five seconds after the database came back");
      await sleep(200);
    }
  };

  it("survives PostgreSQL terminating its sessions and the network resetting them under load, answering only OK or UNAVAILABLE", async () => {
    assert.equal((await outcome(creditNote(0))).code, "ok");
    const codes = new Map<string, number>();
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const result = await outcome(i % 2 === 0 ? creditNote(w * 100_000 + i) : usage.getBalance({ attributionId: team }));
        codes.set(result.code, (codes.get(result.code) ?? 0) + 1);
        if (result.code !== "ok") assert.match(result.message, /try again later/, `${result.code}: ${result.message}`);
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    let terminated = 0;
    for (let round = 0; round < 12; round++) {
      await sleep(150);
      if (round % 3 === 2) proxy.reset();
      else {
        const { rows } = await admin.query(
          "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tally'",
        );
        terminated += rows.length;
      }
      assert.ok(alive(), `the server exited after ${round + 1} rounds of faults: ${server.logs.slice(-3).join("\n")}`);
    }
    stop = true;
    await Promise.all(workers);
    assert.ok(terminated > 0, "no session was terminated: the test did not test");
    assert.ok(alive(), "the server exited");
    const unexpected = [...codes.keys()].filter((code) => code !== "ok" && code !== "Unavailable");
    assert.deepEqual(unexpected, [], `codes during the faults: ${JSON.stringify(Object.fromEntries(codes))}`);
    await recovery(5_000);
  });

  it("answers UNAVAILABLE with a message while the database refuses connections, /readyz 503 and /healthz 200, and recovers by itself", async () => {
    proxy.refuse();
    try {
      const results = await Promise.all(Array.from({ length: 19 }, () => outcome(usage.getBalance({ attributionId: team }))));
      for (const result of results) {
        assert.equal(result.code, "Unavailable", result.message);
        assert.match(result.message, /database.*try again later/);
        assert.ok(result.ms < answerWithinMs, `answered after ${Math.round(result.ms)} ms`);
      }
      const note = await outcome(creditNote(1));
      assert.equal(note.code, "Unavailable", note.message);
      const ready = await http("/readyz");
      assert.equal(ready.status, 503);
      assert.equal((await http("/healthz")).status, 200);
    } finally {
      proxy.heal();
    }
    await recovery(5_000);
    await readyAgain();
  });

  it("answers UNAVAILABLE within bounds during a stall, leaves no session idle in a transaction, and catches up after it", async () => {
    const balanceBefore = (await usage.getBalance({ attributionId: team })).credits;
    // Stall in the middle of work: credit notes in flight hold transactions open on the server.
    const inFlight = Array.from({ length: 6 }, (_, i) => outcome(creditNote(2_000_000 + i)));
    await sleep(20);
    proxy.pause();
    const stalledAtMs = performance.now();
    let stalledSessions = 0;
    try {
      const during = await Promise.all([...inFlight, ...Array.from({ length: 6 }, () => outcome(usage.getBalance({ attributionId: team })))]);
      for (const result of during) {
        assert.ok(result.code === "ok" || result.code === "Unavailable", `${result.code}: ${result.message}`);
        assert.ok(result.ms < answerWithinMs, `a call during the stall answered after ${Math.round(result.ms)} ms`);
      }
      assert.ok(during.slice(6).every((result) => result.code === "Unavailable"), "GetBalance answered during a stall");
      // /readyz turns 503 within a few seconds of the stall, and answers promptly; /healthz stays up.
      for (;;) {
        const ready = await http("/readyz");
        assert.ok(ready.ms < 3_000, `/readyz took ${Math.round(ready.ms)} ms`);
        if (ready.status === 503) break;
        assert.ok(performance.now() - stalledAtMs < 5_000, "/readyz still 200 five seconds into the stall");
        await sleep(200);
      }
      assert.equal((await http("/healthz")).status, 200);
      // The server ends sessions left idle inside a transaction, releasing their locks.
      stalledSessions = await tallySessions();
      const deadline = performance.now() + 5_000;
      while ((await tallySessions("idle in transaction")) > 0) {
        assert.ok(performance.now() < deadline, "sessions stayed idle in a transaction 5 s into the stall");
        await sleep(200);
      }
    } finally {
      proxy.heal();
    }
    const healedAt = new Date();
    const recoveredMs = await recovery(10_000);
    await readyAgain();
    // Whatever was acknowledged is booked once; what failed during the stall may or may not be (UNAVAILABLE).
    const balanceAfter = (await usage.getBalance({ attributionId: team })).credits;
    assert.ok(balanceAfter <= balanceBefore && balanceAfter >= balanceBefore - 6, `balance ${balanceBefore} -> ${balanceAfter}`);
    // The ledger job runs again after the stall, without a restart.
    const deadline = performance.now() + 10_000;
    for (;;) {
      const { rows } = await admin.query("SELECT last_success_at FROM job_runs WHERE job = 'ledger'");
      if (rows[0]?.last_success_at && rows[0].last_success_at > healedAt) break;
      assert.ok(performance.now() < deadline, "the ledger job did not succeed within 10 s after the stall");
      await sleep(200);
    }
    assert.ok(stalledSessions >= 0);
    assert.ok(recoveredMs < 10_000);
  });

  it("drops a connection whose transaction timed out (its state is unknown), and serves the next query on a new one", async () => {
    // A proxy of its own: the server of this test connects through the shared one.
    const target = new URL(database.databaseUrl!);
    const own = await FaultProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    const handle = await openDatabase({
      databaseUrl: own.urlFor(database.databaseUrl!),
      dataDir: database.dataDir,
      poolSize: 1,
      timeouts: { connectTimeoutMs: 1000, queryTimeoutMs: 1000, statementTimeoutMs: 1000, idleInTransactionTimeoutMs: 1000 },
    });
    try {
      await handle.db.execute(sql`SELECT 1`);
      const connectionsBefore = own.accepted;
      own.pause();
      // In a transaction: Drizzle hands the connection back to the pool without an error, so only
      // Tally's own handling keeps it from being reused.
      const transaction = handle.db.transaction(async (tx) => {
        await tx.execute(sql`SELECT 1`);
      });
      await assert.rejects(transaction, (error: unknown) => {
        const mapped = toTallyError(error);
        assert.ok(mapped instanceof TallyError && mapped.code === "Unavailable", String(error));
        assert.match(mapped.message, /did not answer in time/);
        return true;
      });
      own.heal();
      await handle.db.execute(sql`SELECT 1`);
      assert.equal(own.accepted, connectionsBefore + 1, "the next query reused the connection whose query timed out");
    } finally {
      await handle.close(performance.now() + 2000);
      await own.close();
    }
  });

  it("ends within its shutdown grace on SIGTERM while the database stalls", async () => {
    proxy.pause();
    try {
      const inFlight = Array.from({ length: 4 }, (_, i) => outcome(creditNote(3_000_000 + i)));
      await sleep(300);
      const started = performance.now();
      server.child.kill("SIGTERM");
      const how = await Promise.race([server.exited, sleep(10_000).then(() => "still running")]);
      const tookMs = performance.now() - started;
      assert.equal(how, 0, `exit: ${how} after ${Math.round(tookMs)} ms`);
      // Grace 3 s, plus process teardown on a busy machine.
      assert.ok(tookMs < 3_000 + 1_500, `SIGTERM took ${Math.round(tookMs)} ms`);
      for (const result of await Promise.all(inFlight)) assert.notEqual(result.code, "Internal", result.message);
    } finally {
      proxy.heal();
    }
  });
});

describe("a stuck transaction on the embedded database", { skip: testStoreKind === "postgres" ? "PGlite only: PostgreSQL ends idle transactions itself (see above)" : false }, () => {
  const env = { TALLY_DATABASE_QUERY_TIMEOUT: "1s", TALLY_SHUTDOWN_GRACE: "2s" };

  /** Opens a transaction through Tally's own handle that stays open until the returned release() is called. */
  function holdTransaction(t: TestTally): () => void {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    t.tally.database.db
      .transaction(async (tx) => {
        await tx.execute(sql`SELECT 1`);
        await gate;
      })
      .catch(() => {});
    return release;
  }

  it("answers UNAVAILABLE within the query timeout, turns /readyz to 503, books nothing it refused, and recovers", async () => {
    const t = await startTestTally({ env });
    const client = createClient(UsageService, createGrpcTransport({ baseUrl: t.tally.url, defaultTimeoutMs: 10_000 }));
    const team = `team:${randomUUID()}`;
    const release = holdTransaction(t);
    try {
      await sleep(50);
      const balance = await outcome(client.getBalance({ attributionId: team }));
      assert.equal(balance.code, "Unavailable", balance.message);
      assert.match(balance.message, /embedded database is busy/);
      assert.ok(balance.ms < 4_000, `answered after ${Math.round(balance.ms)} ms`);
      const note = await outcome(client.addUsageCreditNote({ attributionId: team, credits: 5, description: "refused" }));
      assert.equal(note.code, "Unavailable", note.message);
      const ready = await fetch(`${t.tally.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(ready.status, 503);
    } finally {
      release();
    }
    await sleep(100);
    // The refused credit note never started: the balance shows nothing of it.
    assert.equal((await client.getBalance({ attributionId: team })).credits, 0);
    await t.stop();
  });

  it("shuts down within its grace although a transaction never ends", async () => {
    const t = await startTestTally({ env });
    const release = holdTransaction(t);
    try {
      await sleep(50);
      const started = performance.now();
      await Promise.race([t.stop(), sleep(10_000).then(() => assert.fail("close() still waiting after 10 s"))]);
      assert.ok(performance.now() - started < 3_500, `close() took ${Math.round(performance.now() - started)} ms`);
    } finally {
      release();
    }
  });
});
