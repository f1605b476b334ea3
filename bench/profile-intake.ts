// Profile of intake and reconcile at the database: no gRPC, no server process. Calls the store and
// the reconciler directly on PostgreSQL and reports, per phase, the database backends' CPU and the
// time and count of each kind of statement (round trips), against a raw multi-row INSERT of the
// same rows measured in the same run.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/profile-intake.ts [size]
//   EXPLAIN=1 ...   also prints EXPLAIN (ANALYZE, BUFFERS) of the fifth call of each write and page read
//                   (run in a savepoint that is rolled back, so the run goes on unchanged)
//
// Database CPU per statement comes from the backend's /proc/<pid>/schedstat (nanoseconds on a CPU),
// so it holds on a loaded machine where wall-clock times do not.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import pg from "pg";
const systemClock = { now: () => new Date() };
import { buildPriceTable } from "../src/domain/pricing.js";
import { mergeReports, validateInstanceReport, type InstanceReport, type InstanceReportInput } from "../src/domain/workspace-instance.js";
import { UsageReconciler } from "../src/services/usage-reconciler.js";
import { openDatabase } from "../src/store/database.js";
import { upsertInstances } from "../src/store/workspace-instances.js";
import { prng, uuidFrom } from "./support.js";

const size = Number(process.argv[2] ?? 100_000);
const baseUrl = process.env.DATABASE_URL;
if (!baseUrl) throw new Error("DATABASE_URL (PostgreSQL) is required");
const dayMs = 24 * 3600_000;
const teamCount = 1000;
const classes = ["g1-standard", "g1-large", "g1-xlarge", "unpriced"];

// Statement timing: every query through pg.Client, keyed by its first words.
const stats = new Map<string, { count: number; ms: number; cpuMs: number }>();
/** Nanoseconds a process has run on a CPU (Linux schedstat): exact, whatever the load. */
function schedNs(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return 0;
  }
}
const originalQuery = pg.Client.prototype.query;
const explained = new Set<string>();
const calls = new Map<string, number>();
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const first = args[0] as string | { text?: string };
  const text = typeof first === "string" ? first : (first?.text ?? "?");
  const key = text.replace(/\s+/g, " ").trim().slice(0, 70);
  const seen = (calls.get(key) ?? 0) + 1;
  calls.set(key, seen);
  if (process.env.EXPLAIN && seen === 5 && !explained.has(key) && /^(INSERT INTO (usage|balances)|UPDATE|WITH|SELECT p|SELECT wi)/.test(key) && typeof first !== "string") {
    explained.add(key);
    const values = (first as { values?: unknown[] }).values ?? (Array.isArray(args[1]) ? (args[1] as unknown[]) : undefined);
    const run = (text: string, v?: unknown[]) => (originalQuery as (...a: unknown[]) => Promise<{ rows: Array<Record<string, string>> }>).call(this, text, v);
    const writes = /^INSERT|^UPDATE|^WITH/.test(key);
    const chain = (async () => {
      // A write is explained in a savepoint when the statement runs in a transaction, else in a
      // transaction of its own (reconcile's page write runs alone when no event endpoint
      // subscribes); either way it is rolled back.
      let undo: string | undefined;
      if (writes) {
        undo = await run("SAVEPOINT explain_it").then(
          () => "ROLLBACK TO SAVEPOINT explain_it",
          () => run("BEGIN").then(() => "ROLLBACK"),
        );
      }
      const { rows } = await run(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, values);
      console.log(`\n--- EXPLAIN ${key}\n${rows.map((r) => r["QUERY PLAN"]).join("\n")}`);
      if (undo) await run(undo);
    })();
    return chain.then(() => (originalQuery as (...a: unknown[]) => unknown).apply(this, args)) as never;
  }
  const start = performance.now();
  const pid = (this as unknown as { processID: number }).processID;
  const cpu0 = schedNs(pid);
  const result = (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  if (result instanceof Promise) {
    void result.finally(() => {
      const s = stats.get(key) ?? { count: 0, ms: 0, cpuMs: 0 };
      s.count += 1;
      s.ms += performance.now() - start;
      s.cpuMs += (schedNs(pid) - cpu0) / 1e6;
      stats.set(key, s);
    }).catch(() => {});
  }
  return result;
} as typeof pg.Client.prototype.query;

function cpuMsOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

const now = Date.now();
const random = prng(42);
const teams = Array.from({ length: teamCount }, () => `team:${uuidFrom(random)}`);
const users = teams.map((_, t) => Array.from({ length: t === 0 ? 200 : 10 }, () => uuidFrom(random)));
function batch(index: number): InstanceReportInput[] {
  const r = prng(7919 + index);
  const out: InstanceReportInput[] = [];
  for (let i = index * 1000; i < Math.min(size, (index + 1) * 1000); i++) {
    const team = r() < 0.1 ? 0 : 1 + Math.floor(r() * (teamCount - 1));
    const running = i < 1000;
    const stopMs = now - Math.floor(r() * 290 * dayMs) - 60_000;
    const startedMs = running ? now - Math.floor(r() * 10 * 3600_000) : stopMs - 300_000 - Math.floor(r() * 3 * 3600_000);
    out.push({
      id: uuidFrom(r),
      workspaceId: `ws-${i.toString(36)}`,
      attributionId: teams[team]!,
      userId: users[team]![Math.floor(r() * users[team]!.length)]!,
      workspaceClass: classes[i % classes.length]!,
      workspaceType: i % 10 === 0 ? "prebuild" : "regular",
      creationTime: new Date(startedMs - 20_000),
      startedTime: new Date(startedMs),
      stoppingTime: running ? undefined : new Date(stopMs),
      stoppedTime: running ? undefined : new Date(stopMs + 5_000),
      projectId: "",
      contextUrl: `https://github.com/example/repo-${i % 97}`,
      userName: `user-${team}`,
      userAvatarUrl: `https://avatars.example.com/u/${team}`,
    });
  }
  return out;
}
const batchCount = Math.ceil(size / 1000);

async function backendsCpu(admin: pg.Client, database: string): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
     UNION ALL SELECT pid FROM pg_stat_activity WHERE backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
    [database],
  );
  return rows.reduce((sum, row) => sum + cpuMsOf(row.pid), 0);
}

function report(label: string, wallMs: number, dbCpuMs: number, nodeCpuMs: number) {
  console.log(`\n${label}: ${Math.round(wallMs)} ms wall, database CPU ${Math.round(dbCpuMs)} ms (${((dbCpuMs * 1000) / size).toFixed(1)} µs/row), node CPU ${Math.round(nodeCpuMs)} ms`);
  const sorted = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 14);
  for (const [key, s] of sorted) console.log(`  ${String(s.count).padStart(6)} x ${s.ms.toFixed(0).padStart(7)} ms wall ${s.cpuMs.toFixed(0).padStart(6)} ms db CPU  ${key}`);
  stats.clear();
}

async function phase(label: string, admin: pg.Client, database: string, work: () => Promise<unknown>) {
  const cpu0 = await backendsCpu(admin, database);
  const node0 = process.cpuUsage();
  const start = performance.now();
  await work();
  const wall = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const node = process.cpuUsage(node0);
  const cpu = (await backendsCpu(admin, database)) - cpu0;
  report(label, wall, cpu, (node.user + node.system) / 1000);
  return { wall, cpu };
}

async function main() {
  const name = `tally_prof_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl!);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ databaseUrl: url.toString(), dataDir: "/tmp/unused" });
  try {
    const db = handle.db;
    const nowDate = new Date(now);
    // Warm the pool (connections count in the phases' backends).
    await Promise.all(Array.from({ length: 4 }, () => db.execute("SELECT 1" as never)));
    const raw = new pg.Client({ connectionString: url.toString() });
    await raw.connect();
    await raw.query("CREATE TABLE bench_raw_instances (LIKE workspace_instances INCLUDING DEFAULTS)");
    await raw.query("ALTER TABLE bench_raw_instances ADD PRIMARY KEY (id)");
    const iso = (t: Date | undefined) => t?.toISOString() ?? null;
    stats.clear();
    const rawFigures = await phase("raw INSERT", admin, name, async () => {
      for (let b = 0; b < batchCount; b++) {
        const params: unknown[] = [];
        const tuples: string[] = [];
        for (const r of batch(b)) {
          const base = params.length;
          tuples.push(`(${Array.from({ length: 15 }, (_, k) => `$${base + k + 1}`).join(", ")})`);
          params.push(r.id, r.attributionId, r.workspaceId, r.userId, r.workspaceClass, r.workspaceType, iso(r.creationTime), iso(r.startedTime),
            iso(r.stoppingTime), iso(r.stoppedTime), r.projectId, r.contextUrl, r.userName, r.userAvatarUrl, new Date().toISOString());
        }
        await raw.query(`INSERT INTO bench_raw_instances (id, attribution_id, workspace_id, user_id, workspace_class, workspace_type, creation_time,
          started_time, stopping_time, stopped_time, project_id, context_url, user_name, user_avatar_url, reported_at) VALUES ${tuples.join(", ")}`, params);
      }
    });
    await raw.query("DROP TABLE bench_raw_instances");
    await raw.end();
    const ingest = await phase("ingest (upsertInstances, 2 in flight)", admin, name, async () => {
      let next = 0;
      const worker = async () => {
        for (let b = next++; b < batchCount; b = next++) {
          const reports: InstanceReport[] = batch(b).map((input, i) => validateInstanceReport(input, `instances[${i}]`, nowDate));
          await upsertInstances(db, mergeReports(reports), new Date());
        }
      };
      await Promise.all([worker(), worker()]);
    });
    const reconciler = new UsageReconciler({
      db,
      clock: systemClock,
      prices: buildPriceTable({ "g1-standard": 1 / 6, "g1-large": 1 / 3, "g1-xlarge": 0.5 }),
      writesInFlight: 2,
    });
    let summary: unknown;
    const reconcile = await phase("reconcile", admin, name, async () => {
      summary = await reconciler.reconcile(new Date(now - 300 * dayMs), new Date(Date.now() + 1000));
    });
    console.log(summary);
    console.log(
      `\nratios to raw INSERT: wall ingest ${(rawFigures.wall / ingest.wall).toFixed(2)}, reconcile ${(rawFigures.wall / reconcile.wall).toFixed(2)}; ` +
        `database CPU ingest ${(rawFigures.cpu / ingest.cpu).toFixed(2)}, reconcile ${(rawFigures.cpu / reconcile.cpu).toFixed(2)}`,
    );
  } finally {
    await handle.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
