// `tally serve` as a shell runs it: starts on the embedded database, keeps data across restarts,
// refuses a second process on the same data directory, and shuts down cleanly on SIGTERM.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import { testStoreKind } from "./support/test-database.js";

const root = path.join(path.dirname(new URL(import.meta.url).pathname), "..");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tally-serve-"));
const attributionId = "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";

interface Served {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

function serve(): Promise<Served> {
  const child = spawn(process.execPath, [path.join(root, "bin/tally.mjs"), "serve"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", TALLY_AUTH: "off", TALLY_DATA_DIR: dataDir, TALLY_JOBS: "off", DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        clearInterval(timer);
        resolve({ child, url: match[1]!, output: () => output, exited });
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(Object.assign(new Error(`tally serve exited with ${code}: ${output}`), { code, output }));
    });
  });
}

describe("tally serve on the embedded database", { skip: testStoreKind === "postgres" ? "covers the embedded default only" : false }, () => {
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("keeps data across a SIGTERM restart and refuses a second process on the same directory", async () => {
    const first = await serve();
    const client = createClient(UsageService, createConnectTransport({ baseUrl: first.url, httpVersion: "1.1" }));
    await client.addUsageCreditNote({ attributionId, credits: 12, description: "before restart" });

    await assert.rejects(serve(), (error: { code: number; output: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.output, /data directory .* is in use by process \d+/);
      return true;
    });

    first.child.kill("SIGTERM");
    assert.equal(await first.exited, 0);
    assert.match(first.output(), /tally stopped/);
    assert.equal(fs.existsSync(path.join(dataDir, "tally.lock")), false);

    const second = await serve();
    try {
      const again = createClient(UsageService, createConnectTransport({ baseUrl: second.url, httpVersion: "1.1" }));
      assert.equal((await again.getBalance({ attributionId })).credits, -12);
    } finally {
      second.child.kill("SIGINT");
      assert.equal(await second.exited, 0);
    }
  });

  it("takes over the lock file of a process that died without cleaning up", async () => {
    fs.writeFileSync(path.join(dataDir, "tally.lock"), "999999");
    const served = await serve();
    served.child.kill("SIGTERM");
    assert.equal(await served.exited, 0);
  });
});
