// The embedded database's memory: the compiled server (`npm run build`, what `npm start` runs) on a
// fresh PGlite directory stays under 300 MB resident at its peak during start and under 200 MB
// idle with an empty ledger, and so does a restart on the same directory. Measured from the
// server's own process (/proc/<pid>/status: VmHWM is the peak, VmRSS the current size).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { spawnTally, stopTally, type TallyProcess } from "./support/tally-process.js";

const run = promisify(execFile);
const root = path.join(import.meta.dirname, "..");
const peakBoundMb = 300;
const idleBoundMb = 200;

/** VmHWM (peak) and VmRSS (now) of a process, in MB. */
function memoryOf(pid: number): { peakMb: number; residentMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
  return { peakMb: kb("VmHWM") / 1024, residentMb: kb("VmRSS") / 1024 };
}

async function startAndMeasure(dataDir: string): Promise<{ peakMb: number; idleMb: number; startMs: number }> {
  const started = performance.now();
  let server: TallyProcess | undefined;
  try {
    server = await spawnTally({ TALLY_DATA_DIR: dataDir, TALLY_JOBS: "off", DATABASE_URL: "" }, 120_000, path.join(root, "dist", "cli", "tally.js"));
    const startMs = performance.now() - started;
    // An empty ledger at work: a few reads, then idle.
    const usage = createClient(UsageService, createGrpcTransport({ baseUrl: server.url }));
    const attributionId = "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";
    assert.equal((await usage.getBalance({ attributionId })).credits, 0);
    assert.equal((await usage.listUsage({ attributionId })).usageEntries.length, 0);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const { peakMb, residentMb } = memoryOf(server.child.pid!);
    return { peakMb, idleMb: residentMb, startMs };
  } finally {
    if (server) await stopTally(server);
  }
}

describe("the embedded server's memory", { skip: process.platform !== "linux" && "reads /proc" }, () => {
  let dataDir: string;
  before(async () => {
    await run("npm", ["run", "build"], { cwd: root });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-memory-"));
  });
  after(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`stays under ${peakBoundMb} MB at start and ${idleBoundMb} MB idle on a new data directory, and after a restart`, async () => {
    for (const phase of ["first start", "restart"]) {
      const figures = await startAndMeasure(dataDir);
      console.log(`${phase}: peak ${figures.peakMb.toFixed(0)} MB, idle ${figures.idleMb.toFixed(0)} MB, ready after ${figures.startMs.toFixed(0)} ms`);
      assert.ok(figures.peakMb <= peakBoundMb, `${phase}: peak resident memory ${figures.peakMb.toFixed(0)} MB > ${peakBoundMb} MB`);
      assert.ok(figures.idleMb <= idleBoundMb, `${phase}: idle resident memory ${figures.idleMb.toFixed(0)} MB > ${idleBoundMb} MB`);
    }
  });
});
