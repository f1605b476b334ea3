// Shared pieces of the benchmarks: a database to measure on, h2load runs and percentiles.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { createTestDatabase, type TestDatabase } from "../test/support/test-database.js";

const run = promisify(execFile);

export async function benchDatabase(): Promise<TestDatabase> {
  return createTestDatabase();
}

export interface LoadResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failed: number;
}

/** A gRPC length-prefixed message frame for h2load's --data. */
export function grpcFrameFile(message: Uint8Array): string {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(frame, 5);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tally-bench-")), "frame.bin");
  fs.writeFileSync(file, frame);
  return file;
}

/** Runs h2load against one gRPC method and reads per-request latencies from its log file. */
export async function h2load(options: {
  url: string;
  dataFile: string;
  requests: number;
  clients: number;
  streamsPerClient: number;
}): Promise<LoadResult> {
  const log = path.join(path.dirname(options.dataFile), `h2load-${Date.now()}-${Math.random()}.log`);
  const { stdout } = await run("h2load", [
    "-n", String(options.requests),
    "-c", String(options.clients),
    "-m", String(options.streamsPerClient),
    "-t", "1",
    "-d", options.dataFile,
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
    "--log-file", log,
    options.url,
  ]);
  const throughput = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(stdout);
  const status = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(stdout);
  if (!throughput || !status) throw new Error(`cannot read h2load output:\n${stdout}`);
  const latenciesUs = fs
    .readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((line) => Number(line.split("\t")[2]))
    .sort((a, b) => a - b);
  fs.rmSync(log, { force: true });
  const percentile = (p: number) => latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(p * latenciesUs.length))]! / 1000;
  return {
    requests: latenciesUs.length,
    requestsPerSecond: Number(throughput[1]),
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    failed: Number(status[2]),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function requireH2load(): void {
  try {
    fs.accessSync("/usr/bin/h2load");
  } catch {
    process.stderr.write("h2load is missing: apt-get install -y nghttp2-client\n");
    process.exit(2);
  }
}

/** mulberry32: a small seeded generator, so a benchmark's data can be replayed from its seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A version-4 UUID drawn from a seeded generator. */
export function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = hex.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}
