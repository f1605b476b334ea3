// The stream flood of issue 14: many HTTP/2 connections, each opening many gRPC streams that send
// only a 5-byte frame prefix and never the message, while /healthz is probed over fresh HTTP/1.1
// connections and /metrics is read for open streams, refusals and the server's RSS. Used by
// test/http-limits.test.ts (CI scale) and bench:faults (the full 120 x 1,000).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http2 from "node:http2";

export interface FloodFigures {
  readonly streamsOpened: number;
  readonly healthzAnswers: number;
  readonly healthzFailures: number;
  readonly healthzFailureReasons: Record<string, number>;
  /** When each failed probe started, in ms after the flood started. */
  readonly healthzFailedAtMs: number[];
  readonly healthzP50Ms: number;
  readonly healthzP99Ms: number;
  readonly maxStreamsSeen: number;
  readonly rssBeforeBytes: number;
  readonly rssMaxBytes: number;
  readonly rssGrowthBytes: number;
  readonly refused: Record<string, number>;
  /** The server's longest event-loop delay seen during the flood (prom-client's monitorEventLoopDelay, per scrape). */
  readonly eventLoopLagMaxMs: number;
}

export interface ProbeFigures {
  readonly answers: number;
  readonly failures: number;
  readonly failureReasons: Record<string, number>;
  /** When each failed probe started, in ms after the probing started. */
  readonly failedAtMs: number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const prefixOnly = Buffer.from([0, 0, 0, 0, 10]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function serverMetrics(url: string): Promise<{ streams: number; rss: number; lagMaxSeconds: number; refused: Record<string, number> }> {
  // A kept-alive connection may have been closed by the server meanwhile (idle timeout): try again.
  let text = "";
  for (let attempt = 1; ; attempt++) {
    try {
      text = await (await fetch(`${url}/metrics`)).text();
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
      await sleep(200);
    }
  }
  const value = (prefix: string) => Number(text.split("\n").find((line) => line.startsWith(prefix))?.split(" ").at(-1) ?? Number.NaN);
  const refused: Record<string, number> = {};
  for (const match of text.matchAll(/^tally_http_refused_total\{reason="([a-z_]+)"\} (\d+)/gm)) refused[match[1]!] = Number(match[2]);
  return { streams: value("tally_http_streams "), rss: value("process_resident_memory_bytes "), lagMaxSeconds: value("nodejs_eventloop_lag_max_seconds "), refused };
}

/** Waits until the server has no stream open, or `timeoutMs`; returns the last count. */
export async function openStreamsAfter(url: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let streams = (await serverMetrics(url)).streams;
  // The /metrics request itself is one.
  while (streams > 1 && performance.now() < deadline) {
    await sleep(200);
    streams = (await serverMetrics(url)).streams;
  }
  return Math.max(0, streams - 1);
}

/**
 * Probes /healthz every 20 ms over fresh connections from a process of its own (the attacker's
 * event loop is busy), until told to stop on stdin; prints one JSON line: latencies (ms, -1 failed)
 * and the failures by reason.
 */
const probeScript = `
const http = require("node:http");
const url = process.argv[1];
const latencies = [];
const failures = {};
const failedAt = [];
const t0 = performance.now();
const fail = (reason, started) => { failures[reason] = (failures[reason] || 0) + 1; failedAt.push(Math.round(started - t0)); return -1; };
let probing = true;
process.stdin.on("data", () => (probing = false));
(async () => {
  while (probing) {
    const started = performance.now();
    const latency = await new Promise((resolve) => {
      const request = http.get(url + "/healthz", { agent: false, timeout: 5000 }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode === 200 ? performance.now() - started : fail("status " + response.statusCode, started)));
      });
      request.on("timeout", () => request.destroy(Object.assign(new Error("timeout"), { code: "timeout after 5 s" })));
      request.on("error", (error) => resolve(fail(error.code || error.message, started)));
    });
    latencies.push(latency);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  process.stdout.write(JSON.stringify({ latencies, failures, failedAt }) + "\\n");
  process.exit(0);
})();
`;

interface Probed {
  readonly latencies: number[];
  readonly failures: Record<string, number>;
  /** When each failed probe started, in ms after the probing started. */
  readonly failedAt: number[];
}

function startProbe(url: string): { stop(): Promise<Probed> } {
  const child = spawn(process.execPath, ["-e", probeScript, url], { stdio: ["pipe", "pipe", "inherit"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    async stop() {
      child.stdin!.write("stop\n");
      await exited;
      return JSON.parse(output.trim() || '{"latencies":[],"failures":{},"failedAt":[]}') as Probed;
    },
  };
}

function summarize(probed: Probed): ProbeFigures {
  const latencies = probed.latencies.filter((latency) => latency >= 0).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? Number.POSITIVE_INFINITY;
  return { answers: latencies.length, failures: probed.latencies.length - latencies.length, failureReasons: probed.failures, failedAtMs: probed.failedAt, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** VmRSS of a process on this machine (Linux), in bytes; undefined elsewhere. */
function rssOf(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** /healthz latency without a flood (the same probe, for a baseline on a shared machine). */
export async function probeHealthz(url: string, durationMs: number): Promise<ProbeFigures> {
  const probe = startProbe(url);
  await sleep(durationMs);
  return summarize(await probe.stop());
}

/**
 * `pid`: the server's process on this machine: its RSS is then read from /proc every 250 ms, and
 * /metrics (whose scrape callbacks query the database, in the server's event loop with PGlite) only
 * every `metricsEveryMs` (default 1000 ms), so that the watching does not weigh on the /healthz
 * figures. Without it, /metrics is read every 250 ms.
 */
export async function streamFlood(
  url: string,
  options: { connections: number; streamsEach: number; durationMs: number; pid?: number; metricsEveryMs?: number; aftermathMs?: number },
): Promise<FloodFigures> {
  const before = await serverMetrics(url);
  let maxStreamsSeen = 0;
  let rssMax = before.rss;
  let lagMaxSeconds = 0;
  let probing = true;
  const probe = startProbe(url);
  const metricsEveryMs = options.pid === undefined ? 250 : (options.metricsEveryMs ?? 1000);
  const watch = (async () => {
    let scraped = performance.now();
    while (probing) {
      const rss = options.pid === undefined ? undefined : rssOf(options.pid);
      if (rss !== undefined) rssMax = Math.max(rssMax, rss);
      if (performance.now() - scraped >= metricsEveryMs - 1) {
        scraped = performance.now();
        const now = await serverMetrics(url).catch(() => undefined);
        if (now) {
          maxStreamsSeen = Math.max(maxStreamsSeen, now.streams - 1);
          rssMax = Math.max(rssMax, now.rss);
          if (Number.isFinite(now.lagMaxSeconds)) lagMaxSeconds = Math.max(lagMaxSeconds, now.lagMaxSeconds);
        }
      }
      await sleep(250);
    }
  })();
  const sessions: http2.ClientHttp2Session[] = [];
  let streamsOpened = 0;
  const started = performance.now();
  try {
    for (let c = 0; c < options.connections; c++) {
      const session = http2.connect(url);
      session.on("error", () => {});
      sessions.push(session);
      for (let i = 0; i < options.streamsEach; i++) {
        if (session.destroyed || session.closed) break;
        try {
          const stream = session.request({ ":method": "POST", ":path": "/usage.v1.UsageService/GetBalance", "content-type": "application/grpc", te: "trailers" });
          stream.on("error", () => {});
          stream.write(prefixOnly);
          streamsOpened += 1;
        } catch {
          break;
        }
      }
      // Let the event loop breathe between connections (the attacker shares the machine).
      await sleep(1);
    }
    const remaining = options.durationMs - (performance.now() - started);
    if (remaining > 0) await sleep(remaining);
  } finally {
    for (const session of sessions) session.destroy();
    // What the attacker's leaving costs the server counts too: keep probing and watching a while.
    await sleep(options.aftermathMs ?? 5000);
    probing = false;
    await watch;
  }
  const probed = summarize(await probe.stop());
  const after = await serverMetrics(url);
  const refused = Object.fromEntries(Object.entries(after.refused).map(([reason, count]) => [reason, count - (before.refused[reason] ?? 0)]));
  return {
    streamsOpened,
    healthzAnswers: probed.answers,
    healthzFailures: probed.failures,
    healthzFailureReasons: probed.failureReasons,
    healthzFailedAtMs: probed.failedAtMs,
    healthzP50Ms: probed.p50Ms,
    healthzP99Ms: probed.p99Ms,
    maxStreamsSeen,
    rssBeforeBytes: before.rss,
    rssMaxBytes: rssMax,
    rssGrowthBytes: rssMax - before.rss,
    refused,
    eventLoopLagMaxMs: lagMaxSeconds * 1000,
  };
}
