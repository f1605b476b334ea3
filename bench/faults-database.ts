// Database faults under load, the long version of test/database-faults.test.ts and
// test/crash-retry.test.ts. A real `tally serve` on PostgreSQL behind a TCP proxy on loopback takes a
// closed-loop mix of GetBalance and AddUsageCreditNote (with idempotency keys) while the database
// terminates its sessions, the network resets, refuses, stalls and blackholes; then the server is
// killed with SIGKILL several times during credit notes and every request is retried with its key.
// Prints: load held (ratio to the baseline in the same run), p99, RSS before/after, faults survived,
// unexpected codes, writes lost and booked twice.
// Usage: npm run bench:faults [-- --seconds 10 --cycles 3 --kills 3 --concurrency 16]
// (needs PostgreSQL: DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { FaultProxy } from "../test/support/fault-proxy.js";
import { spawnTally, stopTally, type TallyProcess } from "../test/support/tally-process.js";
import { createTestDatabase } from "../test/support/test-database.js";
import { median } from "./support.js";

const argument = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const phaseSeconds = argument("seconds", 10);
const cycles = argument("cycles", 3);
const kills = argument("kills", 3);
const concurrency = argument("concurrency", 16);
process.env.DATABASE_URL ??= "postgres://postgres@127.0.0.1:5432/test";

const faultEnv = {
  TALLY_JOBS: "on",
  TALLY_LEDGER_INTERVAL: "5s",
  TALLY_DATABASE_CONNECT_TIMEOUT: "1s",
  TALLY_DATABASE_QUERY_TIMEOUT: "2s",
  TALLY_DATABASE_STATEMENT_TIMEOUT: "1s",
  TALLY_DATABASE_IDLE_IN_TRANSACTION_TIMEOUT: "1s",
  TALLY_SHUTDOWN_GRACE: "3s",
};
const progress = (what: string) => process.stderr.write(`[faults-database] ${what}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Note {
  readonly key: string;
  readonly attributionId: string;
  readonly credits: number;
  readonly description: string;
}

/** Latencies and codes of one phase. */
class PhaseStats {
  readonly latenciesMs: number[] = [];
  readonly codes = new Map<string, number>();
  startedMs = performance.now();
  endedMs = 0;
  record(code: string, ms: number) {
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
    if (code === "ok") this.latenciesMs.push(ms);
  }
  end() {
    this.endedMs = performance.now();
    return this;
  }
  get okPerSecond() {
    return this.latenciesMs.length / ((this.endedMs - this.startedMs) / 1000);
  }
  get p99Ms() {
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
  }
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function main() {
  const database = await createTestDatabase();
  const target = new URL(database.databaseUrl!);
  const proxy = await FaultProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  const admin = new pg.Client({ connectionString: database.databaseUrl, application_name: "bench-faults" });
  await admin.connect();
  const teams = Array.from({ length: 50 }, () => `team:${randomUUID()}`);
  const notes: Note[] = [];
  const acknowledged = new Set<string>();
  let server: TallyProcess = await spawnTally({ DATABASE_URL: proxy.urlFor(database.databaseUrl!), ...faultEnv }, 120_000);
  let client = clientOf(server.url);
  const unexpected = new Map<string, number>();
  let phase = new PhaseStats();
  let running = true;
  let killing = false;

  const newNote = (): Note => {
    const note = { key: randomUUID(), attributionId: teams[notes.length % teams.length]!, credits: 1 + (notes.length % 9), description: `bench ${notes.length}` };
    notes.push(note);
    return note;
  };
  const send = (note: Note) =>
    client.addUsageCreditNote(
      { attributionId: note.attributionId, credits: note.credits, description: note.description },
      { headers: { "idempotency-key": note.key } },
    );
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const started = performance.now();
      let code = "ok";
      try {
        if (i % 4 === 3) {
          const note = newNote();
          await send(note);
          acknowledged.add(note.key);
        } else await client.getBalance({ attributionId: teams[(w + i) % teams.length]! });
      } catch (error) {
        code = Code[ConnectError.from(error).code];
        // While the server is being killed, the client sees its connections die: not an answer.
        if (code !== "Unavailable" && !killing) unexpected.set(code, (unexpected.get(code) ?? 0) + 1);
      }
      phase.record(code, performance.now() - started);
    }
  };
  let workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  const measure = async (seconds: number) => {
    phase = new PhaseStats();
    await sleep(seconds * 1000);
    return phase.end();
  };
  const recovery = async () => {
    const started = performance.now();
    for (;;) {
      try {
        await client.getBalance({ attributionId: teams[0]! });
        return performance.now() - started;
      } catch {
        if (performance.now() - started > 60_000) throw new Error("no recovery within 60 s");
        await sleep(100);
      }
    }
  };

  progress("server started; baseline");
  // Warm up, then the baseline.
  await measure(2);
  const baseline = await measure(phaseSeconds);
  const rssBefore = rssMb(server.child.pid!);

  // Fault cycles under the same load.
  const faults: Array<{ name: string; inject: () => Promise<void> | void; holdMs: number }> = [
    {
      name: "terminate sessions",
      inject: async () => {
        await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'tally'");
      },
      holdMs: 0,
    },
    { name: "reset connections", inject: () => proxy.reset(), holdMs: 0 },
    { name: "refuse connections", inject: () => proxy.refuse(), holdMs: 3000 },
    { name: "stall (paused network)", inject: () => proxy.pause(), holdMs: 4000 },
    { name: "blackhole", inject: () => proxy.blackhole(), holdMs: 4000 },
  ];
  const during = new PhaseStats();
  const recoveriesMs: number[] = [];
  let faultsSurvived = 0;
  let faultsInjected = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    for (const fault of faults) {
      progress(`cycle ${cycle + 1}: ${fault.name}`);
      phase = during;
      faultsInjected += 1;
      await fault.inject();
      await sleep(fault.holdMs);
      proxy.heal();
      recoveriesMs.push(await recovery());
      if (server.child.exitCode === null && server.child.signalCode === null) faultsSurvived += 1;
      await sleep(500);
    }
  }
  during.end();
  const after = await measure(phaseSeconds);
  const rssAfter = rssMb(server.child.pid!);

  // SIGKILL during credit notes; every request not acknowledged is retried with its key after the restart.
  let killsSurvived = 0;
  for (let round = 0; round < kills; round++) {
    progress(`kill -9 round ${round + 1}`);
    await sleep(500 + Math.random() * 1000);
    killing = true;
    server.child.kill("SIGKILL");
    await server.exited;
    running = false;
    await Promise.all(workers);
    server = await spawnTally({ DATABASE_URL: proxy.urlFor(database.databaseUrl!), ...faultEnv }, 120_000);
    client = clientOf(server.url);
    for (const note of notes) {
      if (acknowledged.has(note.key)) continue;
      for (let attempt = 0; ; attempt++) {
        try {
          await send(note);
          acknowledged.add(note.key);
          break;
        } catch (error) {
          if (attempt > 20) throw error;
          await sleep(200);
        }
      }
    }
    killsSurvived += 1;
    killing = false;
    running = true;
    phase = new PhaseStats();
    workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  }
  running = false;
  await Promise.all(workers);
  // Retries of acknowledged notes too: each must replay, not book.
  for (const note of notes.slice(0, 200)) await send(note);
  await stopTally(server);

  const { rows } = await admin.query<{ description: string; n: string }>(
    "SELECT description, count(*) AS n FROM usage WHERE kind = 'creditnote' GROUP BY description",
  );
  const stored = new Map(rows.map((row) => [row.description, Number(row.n)]));
  const lost = notes.filter((note) => acknowledged.has(note.key) && !stored.has(note.description)).length;
  const twice = [...stored.values()].filter((n) => n > 1).length;
  const { rows: mismatched } = await admin.query(`SELECT b.attribution_id FROM balances b
    LEFT JOIN (SELECT attribution_id, sum(credit_cents) AS s FROM usage GROUP BY attribution_id) l USING (attribution_id)
    WHERE b.balance_cents <> coalesce(l.s, 0)`);
  const { rows: idle } = await admin.query(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
  );

  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const lines = [
    `database faults on PostgreSQL (${concurrency} clients, 3:1 GetBalance:AddUsageCreditNote, ${phaseSeconds} s phases)`,
    `  baseline        ${baseline.okPerSecond.toFixed(0)} ok/s, p99 ${baseline.p99Ms.toFixed(1)} ms`,
    `  during faults   ${during.okPerSecond.toFixed(0)} ok/s (${ratio(during.okPerSecond, baseline.okPerSecond)} of baseline), p99 ${during.p99Ms.toFixed(1)} ms; codes ${JSON.stringify(Object.fromEntries(during.codes))}`,
    `  after faults    ${after.okPerSecond.toFixed(0)} ok/s (load held: ${ratio(after.okPerSecond, baseline.okPerSecond)} of baseline), p99 ${after.p99Ms.toFixed(1)} ms (${ratio(after.p99Ms, baseline.p99Ms)}x baseline)`,
    `  RSS             ${rssBefore.toFixed(0)} MB before faults, ${rssAfter.toFixed(0)} MB after (${ratio(rssAfter, rssBefore)}x)`,
    `  faults survived ${faultsSurvived}/${faultsInjected} without a restart (${faults.map((fault) => fault.name).join(", ")} x ${cycles}); recovery p50 ${median(recoveriesMs).toFixed(0)} ms, max ${Math.max(...recoveriesMs).toFixed(0)} ms`,
    `  unexpected codes ${unexpected.size === 0 ? "none (only OK and UNAVAILABLE)" : JSON.stringify(Object.fromEntries(unexpected))}`,
    `  kill -9         ${killsSurvived}/${kills} rounds; ${notes.length} credit notes sent, ${acknowledged.size} acknowledged in the end`,
    `  writes lost     ${lost}; booked twice ${twice}; balances off the ledger ${mismatched.length}; sessions idle in transaction ${idle[0].n}`,
  ];
  console.log(lines.join("\n"));
  await admin.end();
  await proxy.close();
  await database.drop();
  if (lost > 0 || twice > 0 || unexpected.size > 0 || mismatched.length > 0 || faultsSurvived < faultsInjected) process.exitCode = 1;
}

function clientOf(url: string): Client<typeof UsageService> {
  return createClient(UsageService, createGrpcTransport({ baseUrl: url, defaultTimeoutMs: 30_000 }));
}

await main();
