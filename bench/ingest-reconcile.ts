// Benchmark: ingest 100,000 workspace instances through the API in batches of 1000, then reconcile
// them (half running, half stopped), against a plain multi-row INSERT of the same rows measured in
// the same run on the same database. Prints instances per second and the ratios.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:ingest
//
// The server runs as a child process (`tally serve`). Options (environment): BENCH_INSTANCES
// (100000), BENCH_CONCURRENCY (ingestion requests in flight, 2), BENCH_TEAMS (attribution ids, 1000).
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceSchema, WorkspaceInstanceService, type WorkspaceInstance } from "../src/gen/usage/v1/workspace_instance_pb.js";

const instanceCount = Number(process.env.BENCH_INSTANCES ?? 100_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 2);
const teamCount = Number(process.env.BENCH_TEAMS ?? 1000);
const batchSize = 1000;
const classes = ["g1-standard", "g1-large", "g1-xlarge", "unpriced"];

async function main() {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    console.error("bench:ingest measures against PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)");
    process.exit(2);
  }
  const dbName = `tally_bench_${randomBytes(4).toString("hex")}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${dbName}`));
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  // The server runs in its own process, as in production: client and server do not share a thread.
  const server = await spawnServer(databaseUrl);
  try {
    const transport = createGrpcTransport({ baseUrl: server.url });
    const instancesApi = createClient(WorkspaceInstanceService, transport);
    const usageApi = createClient(UsageService, transport);
    const now = new Date();
    const teams = Array.from({ length: teamCount }, () => `team:${randomUUID()}`);
    const batches = buildBatches(now, teams);
    console.log(`${instanceCount} instances, ${batches.length} batches of ${batchSize}, ${concurrency} in flight, ${teamCount} teams, PostgreSQL`);

    // Warm-up on throwaway instances: JIT, connections, plans.
    for (const batch of buildBatches(now, teams, 2000)) await instancesApi.upsertWorkspaceInstances({ instances: batch });

    // CPU used by the server process and this database's PostgreSQL processes, per phase: on a
    // machine shared with other work, wall-clock rates move with the load; CPU per instance does not.
    const cpu = await cpuMeter(server.pid, databaseUrl);
    let mark = await cpu.read();
    const ingestMs = await timed(async () => {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < batches.length; i = next++) {
          const response = await instancesApi.upsertWorkspaceInstances({ instances: batches[i]! });
          if (Number(response.upserted) !== batches[i]!.length) throw new Error(`batch ${i}: upserted ${response.upserted}`);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    });

    const ingestCpuMs = (await cpu.read()) - mark;
    mark = await cpu.read();
    const reconcileMs = await timed(async () => {
      await usageApi.reconcileUsage({
        from: timestampFromDate(new Date(now.getTime() - 24 * 3600_000)),
        to: timestampFromDate(new Date(Date.now() + 1000)),
      });
    });
    const reconcileCpuMs = (await cpu.read()) - mark;
    await cpu.close();
    // The ledger job's steady state: a minute later every running instance's draft grows.
    const regrowMs = await timed(async () => {
      await usageApi.reconcileUsage({
        from: timestampFromDate(new Date(Date.now() - 6 * 60_000)),
        to: timestampFromDate(new Date(Date.now() + 1000)),
      });
    });
    let counts: { entries: string; drafts: string; balance: string; ledger: string } | undefined;
    await withClient(databaseUrl, async (c) => {
      counts = (
        await c.query(`SELECT
          (SELECT count(*) FROM usage WHERE kind = 'workspaceinstance') AS entries,
          (SELECT count(*) FROM usage WHERE draft) AS drafts,
          (SELECT coalesce(sum(balance_cents), 0) FROM balances) AS balance,
          (SELECT coalesce(sum(credit_cents), 0) FROM usage) AS ledger`)
      ).rows[0];
    });
    const expected = instanceCount + 2000;
    if (Number(counts!.entries) !== expected) throw new Error(`expected ${expected} entries, found ${counts!.entries}`);
    if (counts!.balance !== counts!.ledger) throw new Error(`balances ${counts!.balance} != ledger ${counts!.ledger}`);

    const baselineMs = await plainInsert(databaseUrl, batches);

    const rate = (ms: number) => Math.round(instanceCount / (ms / 1000)).toLocaleString("en");
    console.log(`ingest    ${rate(ingestMs)} instances/s (${Math.round(ingestMs)} ms)`);
    console.log(`reconcile ${rate(reconcileMs)} instances/s (${Math.round(reconcileMs)} ms; ${counts!.entries} entries, ${counts!.drafts} drafts)`);
    console.log(`re-reconcile ${Math.round((instanceCount / 2) / (regrowMs / 1000)).toLocaleString("en")} drafts/s (${Math.round(regrowMs)} ms to grow ${instanceCount / 2} drafts)`);
    console.log(`plain multi-row INSERT ${rate(baselineMs)} rows/s (${Math.round(baselineMs)} ms)`);
    console.log(`ratio ingest / plain INSERT    ${(baselineMs / ingestMs).toFixed(2)}`);
    console.log(`ratio reconcile / plain INSERT ${(baselineMs / reconcileMs).toFixed(2)}`);
    const perCore = (cpuMs: number) => Math.round(instanceCount / (cpuMs / 1000)).toLocaleString("en");
    console.log(
      `CPU (server + PostgreSQL): ingest ${Math.round(ingestCpuMs)} ms = ${perCore(ingestCpuMs)} instances per CPU-second, ` +
        `reconcile ${Math.round(reconcileCpuMs)} ms = ${perCore(reconcileCpuMs)} instances per CPU-second ` +
        `(load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`,
    );
  } finally {
    await server.stop();
    await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  }
}

/**
 * Sums CPU time (Linux /proc) of the server process and of the PostgreSQL processes serving its
 * database plus the shared WAL writer, checkpointer and background writer. A backend that appears
 * during a phase counts whole (it started in the phase). Reads 0 where /proc does not exist.
 */
async function cpuMeter(serverPid: number, databaseUrl: string): Promise<{ read(): Promise<number>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const ticksPerSecond = 100;
  const cpuMsOf = (pid: number) => {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
    } catch {
      return 0;
    }
  };
  return {
    async read() {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE (datname = current_database() AND pid <> pg_backend_pid())
           OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
      );
      return [serverPid, ...rows.map((row) => row.pid)].reduce((sum, pid) => sum + cpuMsOf(pid), 0);
    },
    close: () => client.end(),
  };
}

async function spawnServer(databaseUrl: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "tally.mjs");
  const child = spawn(process.execPath, [bin, "serve"], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: "0",
      HOST: "127.0.0.1",
      TALLY_AUTH: "off",
      TALLY_JOBS: "off",
      LOG_LEVEL: "info",
      TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify({ "g1-standard": 1 / 6, "g1-large": 1 / 3, "g1-xlarge": 0.5 }),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.includes("tally is serving")) resolve(JSON.parse(line).url as string);
    });
    child.once("exit", (code) => reject(new Error(`tally serve exited with ${code} before serving`)));
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Half running (started in the last hour), half stopped (an hour of runtime ending in the last hour). */
function buildBatches(now: Date, teams: string[], count = instanceCount): WorkspaceInstance[][] {
  const batches: WorkspaceInstance[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    const batch: WorkspaceInstance[] = [];
    for (let i = start; i < Math.min(count, start + batchSize); i++) {
      const stopped = i % 2 === 1;
      const startedMs = now.getTime() - (stopped ? 2 * 3600_000 : 0) - ((i * 7919) % 3600_000);
      batch.push(
        create(WorkspaceInstanceSchema, {
          id: randomUUID(),
          workspaceId: `ws-${i.toString(36)}`,
          attributionId: teams[i % teams.length]!,
          userId: randomUUID(),
          workspaceClass: classes[i % classes.length]!,
          workspaceType: i % 10 === 0 ? "prebuild" : "regular",
          creationTime: timestampFromDate(new Date(startedMs - 20_000)),
          startedTime: timestampFromDate(new Date(startedMs)),
          ...(stopped
            ? { stoppingTime: timestampFromDate(new Date(startedMs + 3600_000)), stoppedTime: timestampFromDate(new Date(startedMs + 3605_000)) }
            : {}),
          contextUrl: `https://github.com/example/repo-${i % 97}`,
          userName: `user-${i}`,
          userAvatarUrl: `https://avatars.example.com/u/${i}`,
        }),
      );
    }
    batches.push(batch);
  }
  return batches;
}

/**
 * The baseline: the same rows into a table with the same columns and primary key, one plain
 * multi-row INSERT ... VALUES ($1, ...), (...) per batch on one connection, no conflict handling.
 */
async function plainInsert(databaseUrl: string, batches: WorkspaceInstance[][]): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("CREATE TABLE bench_plain_instances (LIKE workspace_instances INCLUDING DEFAULTS)");
    await client.query("ALTER TABLE bench_plain_instances ADD PRIMARY KEY (id)");
    const iso = (t: { seconds: bigint; nanos: number } | undefined) =>
      t ? new Date(Number(t.seconds) * 1000 + t.nanos / 1e6).toISOString() : null;
    const columns = 15;
    const ms = await timed(async () => {
      for (const batch of batches) {
        const params: unknown[] = [];
        const tuples: string[] = [];
        for (const r of batch) {
          const base = params.length;
          tuples.push(`(${Array.from({ length: columns }, (_, k) => `$${base + k + 1}`).join(", ")})`);
          params.push(r.id, r.attributionId, r.workspaceId, r.userId, r.workspaceClass, r.workspaceType, iso(r.creationTime),
            iso(r.startedTime), iso(r.stoppingTime), iso(r.stoppedTime), r.projectId, r.contextUrl, r.userName, r.userAvatarUrl,
            new Date().toISOString());
        }
        await client.query(
          `INSERT INTO bench_plain_instances (id, attribution_id, workspace_id, user_id, workspace_class, workspace_type,
            creation_time, started_time, stopping_time, stopped_time, project_id, context_url, user_name, user_avatar_url,
            reported_at) VALUES ${tuples.join(", ")}`,
          params,
        );
      }
    });
    await client.query("DROP TABLE bench_plain_instances");
    return ms;
  } finally {
    await client.end();
  }
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

async function withClient(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

await main();
