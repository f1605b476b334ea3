// The stream flood of issue 14 at full size against `tally serve` in a process of its own: 120
// HTTP/2 connections x 1,000 gRPC streams that send only a 5-byte frame prefix, with the default
// limits (TALLY_HTTP_*). Prints the load held, /healthz latency (p50, p99; probed every 20 ms over
// fresh connections from another process) and the server's RSS before and at most; fails when the
// server dies, RSS grows by 200 MB or more, or the p99 is 100 ms or more. On a shared machine the
// figure depends on the others' load: it also probes /healthz for FLOOD_BASELINE_SECONDS before the
// flood and prints the flood's p99 as a multiple of that baseline, the load average and the server's
// longest event-loop delay during the flood. It reads the server's RSS from /proc and /metrics once a second
// (a scrape queries the database, in the server's event loop with PGlite).
// FLOOD_CONNECTIONS, FLOOD_STREAMS, FLOOD_SECONDS, FLOOD_BASELINE_SECONDS change the size.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openStreamsAfter, probeHealthz, streamFlood } from "../test/support/stream-flood.js";
import { spawnTally, stopTally } from "../test/support/tally-process.js";

const connections = Number(process.env.FLOOD_CONNECTIONS ?? 120);
const streamsEach = Number(process.env.FLOOD_STREAMS ?? 1000);
const seconds = Number(process.env.FLOOD_SECONDS ?? 40);
const baselineSeconds = Number(process.env.FLOOD_BASELINE_SECONDS ?? 10);
const load = () => os.loadavg().map((value) => value.toFixed(2)).join(" ");

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-flood-"));
// FLOOD_SERVER_NODE_OPTIONS: node flags for the server alone, on its command line (e.g. "--cpu-prof
// --cpu-prof-dir=prof" to see what blocks; node refuses --cpu-prof in NODE_OPTIONS).
const serverNodeArgs = (process.env.FLOOD_SERVER_NODE_OPTIONS ?? "").split(" ").filter(Boolean);
const tally = await spawnTally({ TALLY_JOBS: "off", TALLY_DATA_DIR: dataDir, DATABASE_URL: "" }, 180_000, undefined, undefined, serverNodeArgs);
try {
  const baseline = await probeHealthz(tally.url, baselineSeconds * 1000);
  console.log(`/healthz without a flood (${baselineSeconds} s): ${baseline.answers} answers, ${baseline.failures} failed${baseline.failures ? ` ${JSON.stringify(baseline.failureReasons)}` : ""}, p50 ${baseline.p50Ms.toFixed(1)} ms, p99 ${baseline.p99Ms.toFixed(1)} ms; load average ${load()}`);
  console.log(`stream flood: ${connections} connections x ${streamsEach} streams sending only a 5-byte prefix, ${seconds} s`);
  const figures = await streamFlood(tally.url, { connections, streamsEach, durationMs: seconds * 1000, pid: tally.child.pid });
  const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
  console.log(`streams opened by the attacker: ${figures.streamsOpened}; most open on the server at once: ${figures.maxStreamsSeen}`);
  console.log(`refused or cut: ${JSON.stringify(figures.refused)}`);
  console.log(`/healthz during the flood: ${figures.healthzAnswers} answers, ${figures.healthzFailures} failed${figures.healthzFailures ? ` ${JSON.stringify(figures.healthzFailureReasons)} (started at ${figures.healthzFailedAtMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(", ")} of the flood)` : ""}, p50 ${figures.healthzP50Ms.toFixed(1)} ms, p99 ${figures.healthzP99Ms.toFixed(1)} ms (${(figures.healthzP99Ms / baseline.p99Ms).toFixed(1)} x the baseline's p99); longest event-loop delay ${figures.eventLoopLagMaxMs.toFixed(0)} ms; load average ${load()}`);
  console.log(`server RSS: before ${mb(figures.rssBeforeBytes)}, at most ${mb(figures.rssMaxBytes)} (growth ${mb(figures.rssGrowthBytes)})`);
  const left = await openStreamsAfter(tally.url, 30_000);
  const alive = (await fetch(`${tally.url}/readyz`)).status === 200;
  console.log(`after the flood: ${left} streams open, /readyz ${alive ? "200" : "not ready"}`);
  const ok = alive && figures.rssGrowthBytes < 200 * 1048576 && figures.healthzP99Ms < 100 && figures.healthzFailures === 0;
  console.log(ok ? "target held (alive, RSS growth < 200 MB, /healthz p99 < 100 ms)" : "TARGET MISSED");
  if (!ok) process.exitCode = 1;
} finally {
  await stopTally(tally);
  fs.rmSync(dataDir, { recursive: true, force: true });
}
