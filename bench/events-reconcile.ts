// Benchmark: what account events cost the ledger's hot path. Reconciles the same number of stopped
// instances (spread over many teams) three ways in one run, on one database, and prints instances per
// second and the ratio to the first:
//   1. no endpoint subscribes (the baseline: limit detection must cost nothing),
//   2. an endpoint subscribes to the limit events, and no team crosses a threshold,
//   3. the same, and every team crosses one (an event and a stored level per team).
// Rounds alternate the three, so a busy machine slows them alike.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:events
//
// Options (environment): BENCH_INSTANCES per round (20000), BENCH_TEAMS (1000), BENCH_ROUNDS (3).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { startTally } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { ManualClock } from "../src/domain/clock.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WorkspaceInstanceSchema, WorkspaceInstanceService } from "../src/gen/usage/v1/workspace_instance_pb.js";
import { silentLogger } from "../src/logger.js";
import { benchDatabase } from "./support.js";

const instancesPerRound = Number(process.env.BENCH_INSTANCES ?? 20_000);
const teamCount = Number(process.env.BENCH_TEAMS ?? 1000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const variants = ["no endpoint", "subscribed, nothing crosses", "subscribed, every team crosses"] as const;
type Variant = (typeof variants)[number];

async function main() {
  const database = await benchDatabase();
  const clock = new ManualClock(new Date("2026-01-15T12:00:00Z"));
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    TALLY_AUTH: "off",
    TALLY_JOBS: "off",
    TALLY_DATA_DIR: database.dataDir,
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    // 1 credit per minute; each instance below runs 1 minute. Teams start at the user default.
    TALLY_CREDITS_PER_MINUTE_BY_WORKSPACE_CLASS: JSON.stringify({ bench: 1 }),
    TALLY_DEFAULT_SPENDING_LIMIT_TEAMS: "1000000",
  });
  const tally = await startTally(config, { clock, logger: silentLogger });
  await tally.events.dispatcher.stop(); // the outbox is measured, not the HTTP deliveries
  const instancesApi = createClient(WorkspaceInstanceService, createGrpcTransport({ baseUrl: tally.url }));
  const perTeam = Math.ceil(instancesPerRound / teamCount);
  console.log(`${instancesPerRound} instances per round over ${teamCount} teams, ${rounds} rounds, ${database.kind}`);
  const totalsMs = new Map<Variant, number>(variants.map((variant) => [variant, 0]));
  let endpointId: string | undefined;
  try {
    // Round 0 warms up (JIT, plans, connections) and is not counted.
    for (let round = 0; round <= rounds; round++) {
      for (const variant of variants) {
        const subscribed = variant !== "no endpoint";
        if (subscribed && !endpointId) {
          const added = await tally.events.service.addEndpoint({
            url: "http://127.0.0.1:9/bench",
            eventTypes: ["limit.warning", "limit.reached", "limit.cleared"],
            description: "bench",
            secret: "",
          });
          endpointId = added.endpoint.id;
        } else if (!subscribed && endpointId) {
          await tally.events.service.removeEndpoint(endpointId);
          endpointId = undefined;
        }
        // Fresh teams each time; "every team crosses" gives each a limit its usage passes.
        const teams = Array.from({ length: teamCount }, () => `team:${randomUUID()}`);
        if (variant === "subscribed, every team crosses") {
          for (const team of teams) await tally.costCenters.set({ attributionId: team, spendingLimitCredits: Math.max(1, perTeam - 1), billingStrategy: "other" });
        }
        const now = clock.now();
        for (let start = 0; start < instancesPerRound; start += 1000) {
          const batch = Array.from({ length: Math.min(1000, instancesPerRound - start) }, (_, k) =>
            create(WorkspaceInstanceSchema, {
              id: randomUUID(),
              workspaceId: `ws-${start + k}`,
              attributionId: teams[(start + k) % teams.length]!,
              workspaceClass: "bench",
              startedTime: timestampFromDate(new Date(now.getTime() - 60_000)),
              stoppingTime: timestampFromDate(now),
              stoppedTime: timestampFromDate(now),
            }),
          );
          await instancesApi.upsertWorkspaceInstances({ instances: batch });
        }
        const started = performance.now();
        const summary = await tally.reconciler.reconcile(new Date(now.getTime() - 1000), new Date(now.getTime() + 1000));
        const ms = performance.now() - started;
        if (summary.inserted !== instancesPerRound) throw new Error(`${variant}: inserted ${summary.inserted} of ${instancesPerRound}`);
        if (round > 0) totalsMs.set(variant, totalsMs.get(variant)! + ms);
        console.log(`${round === 0 ? "warm-up" : `round ${round}`}  ${variant.padEnd(32)} ${Math.round((instancesPerRound / ms) * 1000)} instances/s`);
        clock.advanceMs(60_000);
      }
    }
    const baseline = totalsMs.get("no endpoint")!;
    console.log("\nall rounds:");
    for (const variant of variants) {
      const ms = totalsMs.get(variant)!;
      const rate = Math.round(((instancesPerRound * rounds) / ms) * 1000);
      console.log(`${variant.padEnd(32)} ${rate} instances/s  ${(baseline / ms).toFixed(2)}x the baseline's rate`);
    }
  } finally {
    await tally.close();
    await database.drop();
  }
}

await main();
