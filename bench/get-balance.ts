// GetBalance benchmark: throughput and p50/p99 latency for an attribution id with 1,000 and with
// 1,000,000 ledger entries, against a no-op RPC (grpc.health.v1.Health/Check, which reuses one
// database ping a second) on the same server, all in one run. Prints ratios:
//   p50(1M) / p50(1k) -- target at most 1.2 (O(1): the balance is one row, not a scan)
//   rps(1M) / rps(no-op) -- target at least 0.6
// Usage: npm run bench [-- --requests 20000]; DATABASE_URL=... to measure on PostgreSQL.
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { HealthCheckRequestSchema } from "../src/gen/health/v1/health_pb.js";
import { GetBalanceRequestSchema, UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { silentLogger } from "../src/logger.js";
import { startTally } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { openDatabase, type Database } from "../src/store/database.js";
import { benchDatabase, grpcFrameFile, h2load, median, requireH2load, type LoadResult } from "./support.js";

const argument = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const requests = argument("requests", 20_000);
const rounds = argument("rounds", 3);
const seedBatch = 100_000;

async function seed(db: Database, attributionId: string, entries: number): Promise<void> {
  for (let offset = 0; offset < entries; offset += seedBatch) {
    const count = Math.min(seedBatch, entries - offset);
    await db.execute(sql`
      INSERT INTO usage (id, attribution_id, source_key, kind, description, credit_cents, effective_time,
                         workspace_instance_id, draft, metadata, created_at, updated_at)
      SELECT gen_random_uuid(), ${attributionId}, ${attributionId} || ':' || g, 'workspaceinstance', 'bench',
             1 + g % 97, now() - g * interval '1 second', gen_random_uuid(), false, '{}'::jsonb, now(), now()
      FROM generate_series(${offset + 1}::int, ${offset + count}::int) AS g`);
  }
  await db.execute(sql`
    INSERT INTO balances (attribution_id, balance_cents, updated_at)
    SELECT ${attributionId}, coalesce(sum(credit_cents), 0), now() FROM usage WHERE attribution_id = ${attributionId}`);
}

async function main() {
  requireH2load();
  const testDatabase = await benchDatabase();
  const handle = await openDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir });
  try {
    const small = "team:00000000-0000-4000-8000-000000001000";
    const large = "team:00000000-0000-4000-8000-000001000000";
    const seeded = performance.now();
    await seed(handle.db, small, 1_000);
    await seed(handle.db, large, 1_000_000);
    process.stdout.write(`database: ${handle.kind}; seeded 1,001,000 entries in ${((performance.now() - seeded) / 1000).toFixed(1)} s\n`);
    await handle.close();

    const tally = await startTally(
      loadConfig({ PORT: "0", HOST: "127.0.0.1", TALLY_AUTH: "off", TALLY_JOBS: "off", TALLY_DATA_DIR: testDatabase.dataDir, DATABASE_URL: testDatabase.databaseUrl ?? "" }),
      { logger: silentLogger },
    );
    const base = tally.url;
    const client = createClient(UsageService, createGrpcTransport({ baseUrl: base }));
    const expected = (await client.getBalance({ attributionId: large })).credits;
    if (!(expected > 0)) throw new Error("seeded balance is not visible over the RPC");

    const scenarios = {
      "no-op (Health/Check)": { path: "/grpc.health.v1.Health/Check", data: toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {})) },
      "GetBalance, 1k entries": { path: "/usage.v1.UsageService/GetBalance", data: toBinary(GetBalanceRequestSchema, create(GetBalanceRequestSchema, { attributionId: small })) },
      "GetBalance, 1M entries": { path: "/usage.v1.UsageService/GetBalance", data: toBinary(GetBalanceRequestSchema, create(GetBalanceRequestSchema, { attributionId: large })) },
    };
    const results = new Map<string, LoadResult[]>();
    // Warm up, then interleave the scenarios round by round so drift in the machine hits all alike.
    for (const scenario of Object.values(scenarios)) {
      await h2load({ url: base + scenario.path, dataFile: grpcFrameFile(scenario.data), requests: 2000, clients: 4, streamsPerClient: 8 });
    }
    for (let round = 0; round < rounds; round++) {
      for (const [name, scenario] of Object.entries(scenarios)) {
        const result = await h2load({ url: base + scenario.path, dataFile: grpcFrameFile(scenario.data), requests, clients: 4, streamsPerClient: 8 });
        if (result.failed > 0) throw new Error(`${name}: ${result.failed} requests failed`);
        results.set(name, [...(results.get(name) ?? []), result]);
      }
    }
    const summary = new Map<string, { rps: number; p50: number; p99: number }>();
    process.stdout.write(`\n${"scenario".padEnd(26)} ${"req/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)}   (median of ${rounds} rounds of ${requests} requests, 4 connections x 8 streams)\n`);
    for (const [name, runs] of results) {
      const row = { rps: median(runs.map((r) => r.requestsPerSecond)), p50: median(runs.map((r) => r.p50Ms)), p99: median(runs.map((r) => r.p99Ms)) };
      summary.set(name, row);
      process.stdout.write(`${name.padEnd(26)} ${row.rps.toFixed(0).padStart(9)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)}\n`);
    }
    const noop = summary.get("no-op (Health/Check)")!;
    const k = summary.get("GetBalance, 1k entries")!;
    const m = summary.get("GetBalance, 1M entries")!;
    const latencyRatio = m.p50 / k.p50;
    const throughputRatio = m.rps / noop.rps;
    process.stdout.write(`\np50 latency 1M / 1k entries:      ${latencyRatio.toFixed(2)}  (target at most 1.20) ${latencyRatio <= 1.2 ? "ok" : "MISSED"}\n`);
    process.stdout.write(`p99 latency 1M / 1k entries:      ${(m.p99 / k.p99).toFixed(2)}\n`);
    process.stdout.write(`throughput GetBalance 1M / no-op: ${throughputRatio.toFixed(2)}  (target at least 0.60) ${throughputRatio >= 0.6 ? "ok" : "MISSED"}\n`);
    await tally.close();
  } finally {
    await testDatabase.drop();
  }
}

await main();
