// Benchmark: the ledger at 10k, 100k and 1M workspace instances (1,000 teams, one holding 10 %),
// each size on a fresh database with the server in its own process (the compiled build, as
// `npm start` runs it). On PostgreSQL it first prints the server's shared_buffers and WAL settings,
// which the 1M figures depend on. Per size it prints ingestion and reconcile rates and their ratio
// to a raw multi-row INSERT of the same rows measured in the same run, ListUsage first/last page p50
// and p99 for the big team, a small one and one user of the big team (user_id), GetBalance p50, a
// ledger run with nothing new, the server's resident memory and the table sizes; then the growth
// exponents between sizes. ListUsage's CPU is per call: the server process (with PGlite in it)
// plus, on PostgreSQL, the database's processes; it moves less with the machine's load than the
// latencies do.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:scale        (PostgreSQL)
//   npm run bench:scale                                                                   (embedded PGlite)
//   npm run bench:scale -- --skip-1m                                                      (10k and 100k only)
//   Options (environment): BENCH_SIZES (10000,100000,1000000), BENCH_SAMPLES (40 calls per latency),
//   BENCH_SERVER_NODE_ARGS (node flags for the server, e.g. --cpu-prof),
//   BENCH_ORDER (stop: instances reported in the order they stopped, as the platform reports them
//   and as Gitpod mode reads them, ORDER BY stoppingTime; random: stop times in no order, as a
//   shuffled file import would send them, the worst case for the reconcile's reads; default stop),
//   BENCH_KEEP_DIR (embedded PGlite only: keep each size's data directory in <dir>/<size> and, when
//   a later run finds one built there, reuse it: no ingest, reconcile or raw INSERT, only the
//   queries, RSS and table sizes; to iterate on reads at 1M without rebuilding it. Delete the
//   directory when done, or when the schema changes).
//
// Data: stopped instances end at times spread over the last 290 days (5 minutes to 3 hours each),
// reported in the order they stopped (within an hour of it; BENCH_ORDER=random: in no order),
// plus 1,000 running instances (a fixed number at every size: how many workspaces run at once does
// not grow with history), 4 workspace classes, 10 users per team (200 in the big one).
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { WorkspaceInstanceSchema, WorkspaceInstanceService, type WorkspaceInstance } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { pgliteStartParams } from "../src/store/pglite-options.js";
import { prng, uuidFrom } from "./support.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const skip1m = process.argv.includes("--skip-1m") || process.env.BENCH_SKIP_1M === "1";
const sizes = (process.env.BENCH_SIZES ?? "10000,100000,1000000")
  .split(",")
  .map(Number)
  .filter((n) => !(skip1m && n >= 1_000_000));
const teamCount = 1000;
const runningCount = 1000;
const batchSize = 1000;
const inFlight = 2;
const samples = Number(process.env.BENCH_SAMPLES ?? 40);
const dayMs = 24 * 3600_000;
const classes = ["g1-standard", "g1-large", "g1-xlarge", "unpriced"];
const postgresUrl = process.env.DATABASE_URL;
const kind = postgresUrl ? "PostgreSQL" : "embedded PGlite";
const keepDir = postgresUrl ? undefined : process.env.BENCH_KEEP_DIR;
const order = process.env.BENCH_ORDER === "random" ? "random" : "stop";

interface SizeFigures {
  size: number;
  /** CPU milliseconds (server process plus, on PostgreSQL, the database's backends) per phase. */
  ingestCpuMs: number;
  reconcileCpuMs: number;
  baselineCpuMs: number;
  ingestRate: number;
  reconcileRate: number;
  ingestMs: number;
  reconcileMs: number;
  baselineRate: number;
  listUsage: Record<"bigFirst" | "bigLast" | "smallFirst" | "smallLast" | "userFirst" | "userLast", { p50: number; p99: number; page: number; blocks: number | undefined; cpuMs: number }>;
  balanceP50: number;
  ledgerRunMs: number;
  /** A ledger run whose window (the last 6 minutes) holds every instance the ingest just reported. */
  afterIngestRunMs: number;
  rss: { residentMb: number; peakMb: number };
  tables: Record<string, number>;
  /** PostgreSQL only: WAL, buffer writes and blocks per relation during the reconcile. */
  reconcileIo: string | undefined;
  bigEntries: number;
  smallEntries: number;
  /** One user's entries in the big team (ListUsage with user_id). */
  userEntries: number;
}

async function main() {
  console.log(`bench:scale on ${kind}, sizes ${sizes.join(", ")}, ${order}-order ingest; ${os.cpus().length} cores, load average ${loadAverage()}`);
  // At 1M the reconcile's randomly written indexes outgrow PostgreSQL's default buffers: the
  // figures depend on these settings as much as on Tally (README, "The ledger at scale").
  if (postgresUrl) {
    await withPg(postgresUrl, async (c) => {
      const [settings] = (
        await c.query(`SELECT current_setting('server_version') AS version, current_setting('shared_buffers') AS shared_buffers,
          current_setting('max_wal_size') AS max_wal_size, current_setting('wal_compression') AS wal_compression`)
      ).rows as Array<Record<string, string>>;
      console.log(
        `PostgreSQL ${settings!.version}: shared_buffers ${settings!.shared_buffers}, max_wal_size ${settings!.max_wal_size}, wal_compression ${settings!.wal_compression}`,
      );
    });
  }
  await promisify(execFile)("npm", ["run", "build"], { cwd: root });
  const results: SizeFigures[] = [];
  for (const size of sizes) {
    const figures = await measureSize(size);
    results.push(figures);
    printSize(figures);
  }
  printGrowth(results);
}

async function measureSize(size: number): Promise<SizeFigures> {
  const database = await freshDatabase(size);
  const seed = 0x5eed + size;
  let server = await spawnServer(database.env);
  try {
    const transport = createGrpcTransport({ baseUrl: server.url });
    const instancesApi = createClient(WorkspaceInstanceService, transport);
    const usageApi = createClient(UsageService, transport);
    const now = Date.now();
    const data = new Dataset(size, seed, now);

    const cpu = await database.cpuMeter(server.pid);
    let mark = await cpu.read();
    const reused = database.reused;
    if (reused) progress(`${size}: reusing the data directory built by an earlier run (no ingest, reconcile or raw INSERT)`);
    const ingestMs = reused ? NaN : await timed(async () => {
      let next = 0;
      const worker = async () => {
        for (let b = next++; b < data.batchCount; b = next++) {
          const batch = data.batch(b);
          const response = await instancesApi.upsertWorkspaceInstances({ instances: batch });
          if (Number(response.upserted) !== batch.length) throw new Error(`batch ${b}: upserted ${response.upserted}`);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    });
    const ingestCpuMs = (await cpu.read()) - mark;
    if (!reused) progress(`${size}: ingested in ${Math.round(ingestMs)} ms`);
    mark = await cpu.read();
    const serverMark = cpuMsOf(server.pid);
    const ioBefore = reused ? undefined : await database.ioSnapshot();
    const reconcileMs = reused ? NaN : await timed(async () => {
      await usageApi.reconcileUsage({ from: timestampFromDate(new Date(now - 300 * dayMs)), to: timestampFromDate(new Date(Date.now() + 1000)) });
    });
    const reconciledAt = Date.now();
    const reconcileCpuMs = (await cpu.read()) - mark;
    const reconcileServerCpuMs = cpuMsOf(server.pid) - serverMark;
    await cpu.close();
    const reconcileIo = ioBefore === undefined ? undefined : ioDelta(ioBefore, (await database.ioSnapshot())!, size);
    if (reconcileIo) progress(`${size}: reconcile I/O ${reconcileIo}`);
    database.built();

    if (!reused) {
      const perInstance = (ms: number) => `${((ms * 1000) / size).toFixed(1)} µs`;
      progress(`${size}: reconciled in ${Math.round(reconcileMs)} ms; CPU per instance ${perInstance(reconcileCpuMs)}, of which the server ${perInstance(reconcileServerCpuMs)}`);
    }
    const listUsage = {} as SizeFigures["listUsage"];
    const entriesOf = { big: 0, small: 0, user: 0 };
    const queryCpu = await database.cpuMeter(server.pid);
    const listings = [
      ["big", data.teams[0]!, ""],
      ["small", data.teams[1]!, ""],
      ["user", data.teams[0]!, data.userOf(0, 0)],
    ] as const;
    for (const [name, team, userId] of listings) {
      const first = await usageApi.listUsage({ attributionId: team, userId, pagination: { perPage: 50n, page: 1n } });
      const lastPage = Math.max(1, Number(first.pagination?.totalPages ?? 1n));
      entriesOf[name] = Number(first.pagination?.total ?? 0n);
      for (const [which, page] of [["First", 1], ["Last", lastPage]] as const) {
        const latencies: number[] = [];
        const blocksBefore = await database.blocksTouched();
        const cpuBefore = await queryCpu.read();
        for (let i = 0; i < samples; i++) {
          latencies.push(await timed(() => usageApi.listUsage({ attributionId: team, userId, pagination: { perPage: 50n, page: BigInt(page) } })));
        }
        const cpuMs = ((await queryCpu.read()) - cpuBefore) / samples;
        const blocksAfter = await database.blocksTouched();
        const blocks = blocksBefore === undefined || blocksAfter === undefined ? undefined : (blocksAfter - blocksBefore) / samples;
        listUsage[`${name}${which}`] = { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), page, blocks, cpuMs };
      }
    }
    await queryCpu.close();
    const balances: number[] = [];
    for (let i = 0; i < samples * 5; i++) balances.push(await timed(() => usageApi.getBalance({ attributionId: data.teams[i % teamCount]! })));
    // The ledger job's run when nothing new happened: its window starts where the full reconcile
    // ended (as a run more than the 5-minute overlap after the last reports would); the running
    // instances' drafts grow. The run right after the bulk ingest is printed too: its window (the
    // last 6 minutes) holds every instance just reported, which it checks once more.
    const ledgerRuns: number[] = [];
    const afterIngestRuns: number[] = [];
    // A run that fails (a statement timeout on a loaded machine) is printed as NaN, not the end of the benchmark.
    const timedRun = (work: () => Promise<unknown>) =>
      timed(work).catch((error: unknown) => {
        progress(`${size}: ledger run failed: ${String(error)}`);
        return Number.NaN;
      });
    for (let i = 0; i < 3; i++) {
      ledgerRuns.push(
        await timedRun(() => usageApi.reconcileUsage({ from: timestampFromDate(new Date(reconciledAt)), to: timestampFromDate(new Date(Date.now() + 1000)) })),
      );
      afterIngestRuns.push(
        await timedRun(() =>
          usageApi.reconcileUsage({ from: timestampFromDate(new Date(Date.now() - 6 * 60_000)), to: timestampFromDate(new Date(Date.now() + 1000)) }),
        ),
      );
    }
    const rss = memoryOf(server.pid);
    await server.stop();
    server = undefined as never;

    progress(`${size}: queries measured; raw INSERT baseline`);
    const { tables, baselineMs, baselineCpuMs } = await database.measure(data);
    return {
      size,
      ingestCpuMs,
      reconcileCpuMs,
      baselineCpuMs,
      ingestMs,
      reconcileMs,
      ingestRate: size / (ingestMs / 1000),
      reconcileRate: size / (reconcileMs / 1000),
      baselineRate: size / (baselineMs / 1000),
      listUsage,
      balanceP50: percentile(balances, 0.5),
      ledgerRunMs: percentile(ledgerRuns, 0.5),
      afterIngestRunMs: percentile(afterIngestRuns, 0.5),
      rss,
      tables,
      reconcileIo,
      bigEntries: entriesOf.big,
      smallEntries: entriesOf.small,
      userEntries: entriesOf.user,
    };
  } finally {
    if (server) await server.stop();
    await database.drop();
  }
}

/**
 * The instances of one size, generated batch by batch from a seed (the raw INSERT replays them).
 * Team 0 holds 10 %; the first `runningCount` instances are running.
 */
class Dataset {
  readonly teams: string[];
  readonly batchCount: number;
  private readonly users: string[][];

  /** The `index`th user of team `team`. */
  userOf(team: number, index: number): string {
    return this.users[team]![index]!;
  }

  constructor(
    readonly size: number,
    private readonly seed: number,
    private readonly now: number,
  ) {
    const random = prng(seed);
    this.teams = Array.from({ length: teamCount }, () => `team:${uuidFrom(random)}`);
    this.users = this.teams.map((_, t) => Array.from({ length: t === 0 ? 200 : 10 }, () => uuidFrom(random)));
    this.batchCount = Math.ceil(size / batchSize);
  }

  batch(index: number): WorkspaceInstance[] {
    const random = prng(this.seed * 7919 + index);
    const batch: WorkspaceInstance[] = [];
    for (let i = index * batchSize; i < Math.min(this.size, (index + 1) * batchSize); i++) {
      const team = random() < 0.1 ? 0 : 1 + Math.floor(random() * (teamCount - 1));
      const users = this.users[team]!;
      const running = i < runningCount;
      // The same draw either way, so both orders hold the same instances but for their stop times:
      // in stop order instance i stops at its share of the 290 days, give or take an hour.
      const draw = random();
      const stoppedShare = (i - runningCount) / Math.max(1, this.size - runningCount);
      const stopMs =
        order === "random"
          ? this.now - Math.floor(draw * 290 * dayMs) - 60_000
          : this.now - Math.floor((1 - stoppedShare) * (290 * dayMs - 3600_000)) - Math.floor(draw * 3600_000) - 60_000;
      const startedMs = running ? this.now - Math.floor(random() * 10 * 3600_000) : stopMs - 300_000 - Math.floor(random() * 3 * 3600_000);
      batch.push(
        create(WorkspaceInstanceSchema, {
          id: uuidFrom(random),
          workspaceId: `ws-${i.toString(36)}`,
          attributionId: this.teams[team]!,
          userId: users[Math.floor(random() * users.length)]!,
          workspaceClass: classes[i % classes.length]!,
          workspaceType: i % 10 === 0 ? "prebuild" : "regular",
          creationTime: timestampFromDate(new Date(startedMs - 20_000)),
          startedTime: timestampFromDate(new Date(startedMs)),
          ...(running ? {} : { stoppingTime: timestampFromDate(new Date(stopMs)), stoppedTime: timestampFromDate(new Date(stopMs + 5_000)) }),
          contextUrl: `https://github.com/example/repo-${i % 97}`,
          userName: `user-${team}`,
          userAvatarUrl: `https://avatars.example.com/u/${team}`,
        }),
      );
    }
    return batch;
  }
}

interface BenchDatabase {
  readonly env: Record<string, string>;
  /** BENCH_KEEP_DIR: the data directory was built by an earlier run; only the reads are measured. */
  readonly reused: boolean;
  /** Marks the data directory as built (ingested and reconciled), for BENCH_KEEP_DIR. */
  built(): void;
  /**
   * Shared-buffer blocks the database has read or found so far (PostgreSQL's pg_stat_database,
   * after the backends flushed their counters): work done, whatever the machine's load.
   */
  blocksTouched(): Promise<number | undefined>;
  /** PostgreSQL: cluster WAL and buffer-write counters, and this database's blocks per relation. */
  ioSnapshot(): Promise<IoSnapshot | undefined>;
  /** CPU time of the server process and the database's processes serving it. */
  cpuMeter(serverPid: number): Promise<{ read(): Promise<number>; close(): Promise<void> }>;
  /** After the server stopped: table sizes, and the raw INSERT of the dataset's rows (wall and database CPU). */
  measure(data: Dataset): Promise<{ tables: Record<string, number>; baselineMs: number; baselineCpuMs: number }>;
  drop(): Promise<void>;
}

const tablesOfInterest = ["usage", "usage_daily_totals", "usage_user_monthly_totals", "workspace_instances", "balances"];
const sizesQuery = `SELECT relname AS name, pg_total_relation_size(oid)::int8 AS bytes FROM pg_class
  WHERE relname IN (${tablesOfInterest.map((t) => `'${t}'`).join(", ")})`;

async function freshDatabase(size: number): Promise<BenchDatabase> {
  if (postgresUrl) {
    const name = `tally_scale_${randomBytes(4).toString("hex")}`;
    await withPg(postgresUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    const url = new URL(postgresUrl);
    url.pathname = `/${name}`;
    const databaseUrl = url.toString();
    return {
      env: { DATABASE_URL: databaseUrl },
      reused: false,
      built: () => {},
      async blocksTouched() {
        // Backends flush their statistics when idle, at most once a second.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        let blocks = 0;
        await withPg(databaseUrl, async (c) => {
          const { rows } = await c.query("SELECT (blks_hit + blks_read)::int8 AS blocks FROM pg_stat_database WHERE datname = current_database()");
          blocks = Number(rows[0].blocks);
        });
        return blocks;
      },
      cpuMeter: (serverPid) => postgresCpuMeter(databaseUrl, serverPid),
      async ioSnapshot() {
        await new Promise((resolve) => setTimeout(resolve, 1500));
        let snapshot: IoSnapshot | undefined;
        await withPg(databaseUrl, async (c) => {
          const cluster = (
            await c.query(`SELECT w.wal_bytes::float8 AS wal_bytes, w.wal_fpi::float8 AS wal_fpi, b.buffers_backend::float8 AS backend,
              b.buffers_checkpoint::float8 AS checkpoint, b.buffers_clean::float8 AS clean, (b.checkpoints_req + b.checkpoints_timed)::float8 AS checkpoints
              FROM pg_stat_wal w, pg_stat_bgwriter b`)
          ).rows[0];
          const relations = (
            await c.query(`SELECT relname AS name, coalesce(heap_blks_read, 0)::float8 AS read, coalesce(heap_blks_hit, 0)::float8 AS hit FROM pg_statio_user_tables
              UNION ALL SELECT indexrelname, coalesce(idx_blks_read, 0)::float8, coalesce(idx_blks_hit, 0)::float8 FROM pg_statio_user_indexes`)
          ).rows as Array<{ name: string; read: number; hit: number }>;
          snapshot = {
            walBytes: cluster.wal_bytes,
            walFpi: cluster.wal_fpi,
            backendWrites: cluster.backend,
            checkpointWrites: cluster.checkpoint + cluster.clean,
            checkpoints: cluster.checkpoints,
            relations: new Map(relations.map((r) => [r.name, { read: r.read, hit: r.hit }])),
          };
        });
        return snapshot;
      },
      async measure(data) {
        let tables: Record<string, number> = {};
        let baselineMs = 0;
        let baselineCpuMs = 0;
        await withPg(databaseUrl, async (c) => {
          tables = Object.fromEntries((await c.query(sizesQuery)).rows.map((r: { name: string; bytes: bigint }) => [r.name, Number(r.bytes)]));
          const backend = Number((await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid);
          const before = cpuMsOf(backend) + sharedPostgresCpuMs();
          baselineMs = await rawInsert(data, (text, params) => c.query(text, params));
          baselineCpuMs = cpuMsOf(backend) + sharedPostgresCpuMs() - before;
        });
        return { tables, baselineMs, baselineCpuMs };
      },
      drop: () => withPg(postgresUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
    };
  }
  let dataDir: string;
  let reused = false;
  if (keepDir) {
    dataDir = path.join(path.resolve(keepDir), String(size));
    reused = fs.existsSync(path.join(dataDir, "bench-built"));
    if (!reused) fs.rmSync(dataDir, { recursive: true, force: true });
    fs.mkdirSync(dataDir, { recursive: true });
  } else {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-scale-"));
  }
  return {
    env: { TALLY_DATA_DIR: dataDir, DATABASE_URL: "" },
    reused,
    built: () => {
      if (keepDir) fs.writeFileSync(path.join(dataDir, "bench-built"), new Date().toISOString());
    },
    blocksTouched: async () => undefined,
    ioSnapshot: async () => undefined,
    cpuMeter: async (serverPid) => ({ read: async () => cpuMsOf(serverPid), close: async () => {} }),
    async measure(data) {
      // The server has stopped: open its directory here, as the server does.
      const db = await PGlite.create(path.join(dataDir, "pglite"), { startParams: pgliteStartParams });
      try {
        const tables = Object.fromEntries((await db.query<{ name: string; bytes: number }>(sizesQuery)).rows.map((r) => [r.name, Number(r.bytes)]));
        if (reused) return { tables, baselineMs: NaN, baselineCpuMs: NaN };
        const before = process.cpuUsage();
        const baselineMs = await rawInsert(data, (text, params) => db.query(text, params));
        const used = process.cpuUsage(before);
        return { tables, baselineMs, baselineCpuMs: (used.user + used.system) / 1000 };
      } finally {
        await db.close();
      }
    },
    drop: async () => {
      if (!keepDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The baseline: the same rows into a table with the same columns and primary key, one plain
 * multi-row INSERT ... VALUES ($1, ...), (...) per batch of 1000, no conflict handling.
 */
async function rawInsert(data: Dataset, query: (text: string, params?: unknown[]) => Promise<unknown>): Promise<number> {
  await query("CREATE TABLE bench_raw_instances (LIKE workspace_instances INCLUDING DEFAULTS)");
  await query("ALTER TABLE bench_raw_instances ADD PRIMARY KEY (id)");
  const iso = (t: { seconds: bigint; nanos: number } | undefined) => (t ? new Date(Number(t.seconds) * 1000 + t.nanos / 1e6).toISOString() : null);
  const columns = 15;
  const batches = Array.from({ length: data.batchCount }, (_, b) => b);
  const ms = await timed(async () => {
    for (const b of batches) {
      const params: unknown[] = [];
      const tuples: string[] = [];
      for (const r of data.batch(b)) {
        const base = params.length;
        tuples.push(`(${Array.from({ length: columns }, (_, k) => `$${base + k + 1}`).join(", ")})`);
        params.push(r.id, r.attributionId, r.workspaceId, r.userId, r.workspaceClass, r.workspaceType, iso(r.creationTime), iso(r.startedTime),
          iso(r.stoppingTime), iso(r.stoppedTime), r.projectId, r.contextUrl, r.userName, r.userAvatarUrl, new Date().toISOString());
      }
      await query(
        `INSERT INTO bench_raw_instances (id, attribution_id, workspace_id, user_id, workspace_class, workspace_type, creation_time,
          started_time, stopping_time, stopped_time, project_id, context_url, user_name, user_avatar_url, reported_at) VALUES ${tuples.join(", ")}`,
        params,
      );
    }
  });
  await query("DROP TABLE bench_raw_instances");
  // The batches were generated inside the timed loop for the API too, so the comparison is fair.
  return ms;
}

async function spawnServer(env: Record<string, string>): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=prof", to look inside the server.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, "dist", "cli", "tally.js"), "serve"], {
    env: {
      ...process.env,
      ...env,
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
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.includes("tally is serving")) resolve(JSON.parse(line).url as string);
    });
    child.once("exit", (code) => reject(new Error(`tally serve exited with ${code} before serving`)));
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function printSize(f: SizeFigures) {
  const n = (value: number) => Math.round(value).toLocaleString("en");
  console.log(`\n== ${n(f.size)} instances (${kind}; load average ${loadAverage()})`);
  if (Number.isNaN(f.ingestMs)) console.log("ingest, reconcile, raw INSERT: not measured (BENCH_KEEP_DIR: a data directory built by an earlier run)");
  else printWrites(f);
  printReads(f);
}

function printWrites(f: SizeFigures) {
  const n = (value: number) => Math.round(value).toLocaleString("en");
  console.log(`ingest     ${n(f.ingestRate)} instances/s (${n(f.ingestMs)} ms), ratio to raw INSERT ${(f.ingestRate / f.baselineRate).toFixed(2)}`);
  console.log(`reconcile  ${n(f.reconcileRate)} instances/s (${n(f.reconcileMs)} ms), ratio to raw INSERT ${(f.reconcileRate / f.baselineRate).toFixed(2)}`);
  console.log(`raw INSERT ${n(f.baselineRate)} rows/s`);
  const perCpu = (cpuMs: number) => f.size / (cpuMs / 1000);
  console.log(
    `per CPU-second (server + database): ingest ${n(perCpu(f.ingestCpuMs))}, reconcile ${n(perCpu(f.reconcileCpuMs))}, ` +
      `raw INSERT ${n(perCpu(f.baselineCpuMs))} (database only); ratios ${(perCpu(f.ingestCpuMs) / perCpu(f.baselineCpuMs)).toFixed(2)} and ` +
      `${(perCpu(f.reconcileCpuMs) / perCpu(f.baselineCpuMs)).toFixed(2)}`,
  );
}

function printReads(f: SizeFigures) {
  const n = (value: number) => Math.round(value).toLocaleString("en");
  const ms = (value: number) => value.toFixed(1);
  const mb = (bytes: number | undefined) => ((bytes ?? 0) / 1048576).toFixed(1);
  for (const [label, key, entries] of [
    ["big team  ", "big", f.bigEntries],
    ["small team", "small", f.smallEntries],
    ["one user of the big team", "user", f.userEntries],
  ] as const) {
    const first = f.listUsage[`${key}First`];
    const last = f.listUsage[`${key}Last`];
    const blocks = (b: number | undefined) => (b === undefined ? "" : `, ${b.toFixed(0)} blocks`);
    console.log(
      `ListUsage ${label} (${n(entries)} entries): first page p50 ${ms(first.p50)} ms p99 ${ms(first.p99)} ms, CPU ${ms(first.cpuMs)} ms${blocks(first.blocks)}; ` +
        `last page (${last.page}) p50 ${ms(last.p50)} ms p99 ${ms(last.p99)} ms, CPU ${ms(last.cpuMs)} ms${blocks(last.blocks)}`,
    );
  }
  console.log(`GetBalance p50 ${ms(f.balanceP50)} ms; ledger run with nothing new (${runningCount} drafts grow) ${ms(f.ledgerRunMs)} ms; right after the ingest (${f.size.toLocaleString("en-US")} reports in its window) ${ms(f.afterIngestRunMs)} ms`);
  console.log(`server RSS ${f.rss.residentMb.toFixed(0)} MB (peak ${f.rss.peakMb.toFixed(0)} MB)`);
  if (f.reconcileIo) console.log(`reconcile I/O: ${f.reconcileIo}`);
  console.log(`tables (MB, with indexes): ${tablesOfInterest.map((t) => `${t} ${mb(f.tables[t])}`).join(", ")}`);
}

function printGrowth(results: SizeFigures[]) {
  if (results.length < 2) return;
  console.log(`\n== growth exponents (time ~ size^k; 0 = flat, 1 = linear)`);
  const rows: Array<[string, (f: SizeFigures) => number]> = [
    ["ingest time", (f) => f.ingestMs],
    ["reconcile time", (f) => f.reconcileMs],
    ["ingest CPU", (f) => f.ingestCpuMs],
    ["reconcile CPU", (f) => f.reconcileCpuMs],
    ["ListUsage big first p50", (f) => f.listUsage.bigFirst.p50],
    ["ListUsage big last p50", (f) => f.listUsage.bigLast.p50],
    ["ListUsage small first p50", (f) => f.listUsage.smallFirst.p50],
    ["ListUsage small last p50", (f) => f.listUsage.smallLast.p50],
    ["ListUsage user first p50", (f) => f.listUsage.userFirst.p50],
    ["ListUsage user last p50", (f) => f.listUsage.userLast.p50],
    ["ListUsage big first CPU", (f) => f.listUsage.bigFirst.cpuMs],
    ["ListUsage big last CPU", (f) => f.listUsage.bigLast.cpuMs],
    ["ListUsage small first CPU", (f) => f.listUsage.smallFirst.cpuMs],
    ["ListUsage small last CPU", (f) => f.listUsage.smallLast.cpuMs],
    ["GetBalance p50", (f) => f.balanceP50],
    ...(results[0]!.listUsage.bigFirst.blocks === undefined
      ? []
      : ([
          ["ListUsage big first blocks", (f) => f.listUsage.bigFirst.blocks!],
          ["ListUsage big last blocks", (f) => f.listUsage.bigLast.blocks!],
        ] as Array<[string, (f: SizeFigures) => number]>)),
    ["ledger run, nothing new", (f) => f.ledgerRunMs],
    ["ledger run after ingest", (f) => f.afterIngestRunMs],
  ];
  for (const [label, value] of rows) {
    if (Number.isNaN(value(results[0]!))) continue;
    const steps: string[] = [];
    for (let i = 1; i < results.length; i++) {
      const a = results[i - 1]!;
      const b = results[i]!;
      const k = Math.log(value(b) / value(a)) / Math.log(b.size / a.size);
      steps.push(`${a.size.toLocaleString("en")} -> ${b.size.toLocaleString("en")}: ${k.toFixed(2)} (x${(value(b) / value(a)).toFixed(2)})`);
    }
    console.log(`${label.padEnd(26)} ${steps.join("; ")}`);
  }
}

interface IoSnapshot {
  walBytes: number;
  walFpi: number;
  backendWrites: number;
  checkpointWrites: number;
  checkpoints: number;
  relations: Map<string, { read: number; hit: number }>;
}

/** The reconcile's WAL and buffer writes, and the relations it read most from outside shared buffers, per 1000 instances. */
function ioDelta(a: IoSnapshot, b: IoSnapshot, size: number): string {
  const k = size / 1000;
  const per = (value: number) => (value / k).toFixed(0);
  const relations = [...b.relations]
    .map(([name, r]) => ({ name, read: r.read - (a.relations.get(name)?.read ?? 0), hit: r.hit - (a.relations.get(name)?.hit ?? 0) }))
    .filter((r) => r.read + r.hit > 0)
    .sort((x, y) => y.read - x.read)
    .slice(0, 6);
  return (
    `per 1000 instances: WAL ${((b.walBytes - a.walBytes) / k / 1048576).toFixed(2)} MB (${per(b.walFpi - a.walFpi)} full pages), ` +
    `buffers written by backends ${per(b.backendWrites - a.backendWrites)}, by checkpointer/bgwriter ${per(b.checkpointWrites - a.checkpointWrites)}; ` +
    `checkpoints ${b.checkpoints - a.checkpoints}; blocks read (hit): ${relations.map((r) => `${r.name} ${per(r.read)} (${per(r.hit)})`).join(", ")}`
  );
}

/** CPU milliseconds (user + system) a process has used so far (Linux /proc); 0 when unknown. */
function cpuMsOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

let sharedPostgresPids: number[] = [];
/** PostgreSQL's WAL writer, checkpointer and background writer, which work for every database. */
function sharedPostgresCpuMs(): number {
  return sharedPostgresPids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
}

/**
 * CPU of the server process plus the PostgreSQL processes serving its database and the shared
 * writers. A backend that appears during a phase counts whole (it started in the phase).
 */
async function postgresCpuMeter(databaseUrl: string, serverPid: number): Promise<{ read(): Promise<number>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    async read() {
      const { rows } = await client.query<{ pid: number; shared: boolean }>(
        `SELECT pid, backend_type IN ('walwriter', 'checkpointer', 'background writer') AS shared FROM pg_stat_activity
         WHERE (datname = current_database() AND pid <> pg_backend_pid()) OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
      );
      sharedPostgresPids = rows.filter((row) => row.shared).map((row) => row.pid);
      return [serverPid, ...rows.map((row) => row.pid)].reduce((sum, pid) => sum + cpuMsOf(pid), 0);
    },
    close: () => client.end(),
  };
}

/** VmRSS and VmHWM of a process in MB (Linux). */
function memoryOf(pid: number): { residentMb: number; peakMb: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
    return { residentMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
  } catch {
    return { residentMb: 0, peakMb: 0 };
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

function progress(message: string): void {
  process.stderr.write(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(1)).join(" ");
}

async function withPg(url: string, work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

await main();
