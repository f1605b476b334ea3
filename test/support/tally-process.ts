// Runs the real `tally serve` (bin/tally.mjs) as a child process, for tests that kill or restart it.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

export const tallyBin = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "tally.mjs");

export interface TallyProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code or signal once the process is gone. */
  readonly exited: Promise<number | string | null>;
  /** Log lines (JSON) seen so far. */
  readonly logs: string[];
}

/**
 * Starts `tally serve` on a free port and waits until it logs that it is serving. `entry` is the
 * program: bin/tally.mjs (the source through tsx) unless a test runs the compiled dist/cli/tally.js.
 * `nodeArgs`: flags for node itself (e.g. --cpu-prof, which NODE_OPTIONS does not allow).
 */
export async function spawnTally(env: Record<string, string>, startTimeoutMs = 30_000, entry = tallyBin, cwd?: string, nodeArgs: readonly string[] = []): Promise<TallyProcess> {
  const child = spawn(process.execPath, [...nodeArgs, entry, "serve"], {
    cwd,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...(env.TALLY_API_TOKENS === undefined ? { TALLY_AUTH: "off" } : {}), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  const stderr: string[] = [];
  child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tally serve did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      logs.push(line);
      if (line.includes('"tally is serving"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line).url as string);
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`tally serve exited (${how}) before serving: ${stderr.join("")}`));
    });
  });
  return { url, child, exited, logs };
}

/** Stops the process gracefully (SIGTERM) and waits for it. */
export async function stopTally(tally: TallyProcess): Promise<void> {
  if (tally.child.exitCode === null && tally.child.signalCode === null) tally.child.kill("SIGTERM");
  await tally.exited;
}
