// `tally instances import FILE`: streams a JSON Lines file of workspace instances (one instance per
// line, protobuf JSON: {"id": "...", "workspaceId": "...", "startedTime": "2026-01-15T10:00:00Z", ...})
// to a running server in batches of 1000 through UpsertWorkspaceInstances. Memory stays constant
// however long the file: one line, one batch and one request at a time.
import fs from "node:fs";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import cliProgress from "cli-progress";
import { instanceBatchSizeMax, validateInstanceReport } from "../domain/workspace-instance.js";
import { WorkspaceInstanceSchema, WorkspaceInstanceService, type WorkspaceInstance } from "../gen/usage/v1/workspace_instance_pb.js";
import { instanceReportInput } from "../rpc/workspace-instance-service.js";
import { withRetries, type Backoff } from "../retry.js";
import { clientFor } from "./client.js";
import { reportError } from "./remote.js";

/** A longer line is rejected without being held in memory whole. */
export const importLineBytesMax = 1024 * 1024;
/** Rejected lines listed in the summary; the rest are only counted. */
export const importRejectsShownMax = 10;
/** Attempts per batch when the server is unreachable or busy. */
const sendAttemptsMax = 5;
/** 400 ms, 800 ms, 1.6 s, 3.2 s between attempts. */
const sendBackoff: Backoff = { minMs: 400, maxMs: 10_000, factor: 2 };
const requestTimeoutMs = 60_000;

export interface ImportOptions {
  readonly file: string;
  /** --server; undefined: TALLY_SERVER or the default. The token comes from TALLY_TOKEN. */
  readonly server: string | undefined;
  readonly progress: boolean;
  readonly out: NodeJS.WritableStream;
  readonly err: NodeJS.WritableStream;
}

export interface ImportResult {
  readonly accepted: number;
  readonly rejected: number;
  readonly firstRejects: ReadonlyArray<{ line: number; reason: string }>;
}

/** `tally instances import FILE` (the command's definition: instances.ts): the file's lines, the outcome and the exit code. */
export async function importFromCommandLine(file: string, options: { server?: string; progress: boolean }): Promise<void> {
  if (!fs.existsSync(file)) {
    process.stderr.write(`tally: ${file}: no such file\n`);
    process.exitCode = 2;
    return;
  }
  try {
    const result = await importInstances({ file, server: options.server, progress: options.progress, out: process.stdout, err: process.stderr });
    process.exitCode = result.rejected > 0 ? 1 : 0;
  } catch (error) {
    // A refused or failed batch stops the import: the server's code decides the exit code (10 + code).
    if (error instanceof ConnectError) {
      process.exitCode = await reportError(error);
      return;
    }
    process.stderr.write(`tally: import stopped: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

interface PendingLine {
  readonly line: number;
  readonly instance: WorkspaceInstance;
}

export async function importInstances(options: ImportOptions): Promise<ImportResult> {
  const api = clientFor(WorkspaceInstanceService, { server: options.server });
  const totalBytes = fs.statSync(options.file).size;
  const bar = options.progress
    ? new cliProgress.SingleBar(
        { format: "importing [{bar}] {percentage}% | {accepted} accepted, {rejected} rejected", stream: options.err, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const result = { accepted: 0, rejected: 0, firstRejects: [] as Array<{ line: number; reason: string }> };
  const reject = (line: number, reason: string) => {
    result.rejected += 1;
    if (result.firstRejects.length < importRejectsShownMax) result.firstRejects.push({ line, reason });
  };
  bar?.start(totalBytes, 0, { accepted: 0, rejected: 0 });
  let batch: PendingLine[] = [];
  let sending: Promise<void> = Promise.resolve();
  const send = async (lines: PendingLine[]) => {
    result.accepted += await sendBatch(api, lines, reject);
  };
  try {
    const reader = readLines(options.file, importLineBytesMax);
    for await (const { line, text, bytesRead } of reader) {
      bar?.update(bytesRead, { accepted: result.accepted, rejected: result.rejected });
      if (text === undefined) {
        reject(line, `longer than ${importLineBytesMax} bytes`);
        continue;
      }
      if (text.trim() === "") continue;
      const parsed = parseLine(text);
      if (typeof parsed === "string") {
        reject(line, parsed);
        continue;
      }
      batch.push({ line, instance: parsed });
      if (batch.length === instanceBatchSizeMax) {
        // One request in flight while the next batch is read.
        await sending;
        sending = send(batch);
        // Handled here so a failure is not "unhandled" before the next await picks it up.
        sending.catch(() => {});
        batch = [];
      }
    }
    await sending;
    if (batch.length > 0) await send(batch);
    bar?.update(totalBytes, { accepted: result.accepted, rejected: result.rejected });
  } finally {
    await sending.catch(() => {});
    bar?.stop();
  }
  options.out.write(`accepted ${result.accepted} lines, rejected ${result.rejected} lines of ${options.file}\n`);
  for (const { line, reason } of result.firstRejects) options.out.write(`  line ${line}: ${reason}\n`);
  if (result.rejected > result.firstRejects.length) {
    options.out.write(`  ... and ${result.rejected - result.firstRejects.length} more rejected lines\n`);
  }
  return result;
}

/** The instance on a line, or why it is rejected. Checks what the server would, before sending. */
function parseLine(text: string): WorkspaceInstance | string {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (error) {
    return `not JSON: ${(error as Error).message}`;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "not a JSON object";
  let instance: WorkspaceInstance;
  try {
    instance = fromJson(WorkspaceInstanceSchema, json);
  } catch (error) {
    return `not a usage.v1.WorkspaceInstance: ${(error as Error).message}`;
  }
  try {
    validateInstanceReport(instanceReportInput(instance, "instance"), "instance", new Date());
  } catch (error) {
    return (error as Error).message;
  }
  return instance;
}

/**
 * Sends one batch. The server validates the batch as a whole: when it names a bad entry, that line is
 * rejected and the rest is sent again. Returns the number of lines stored.
 */
async function sendBatch(
  api: Client<typeof WorkspaceInstanceService>,
  lines: PendingLine[],
  reject: (line: number, reason: string) => void,
): Promise<number> {
  let pending = lines;
  /** One send; a line the server names as bad is rejected and the rest sent again at once (no retry used). */
  const send = async (): Promise<number> => {
    while (pending.length > 0) {
      try {
        await api.upsertWorkspaceInstances({ instances: pending.map((p) => p.instance) }, { timeoutMs: requestTimeoutMs });
        return pending.length;
      } catch (error) {
        const connectError = ConnectError.from(error);
        const bad = /^instances\[(\d+)\]/.exec(connectError.rawMessage);
        const line = bad ? pending[Number(bad[1])] : undefined;
        if (connectError.code !== Code.InvalidArgument || !bad || !line) throw connectError;
        reject(line.line, connectError.rawMessage.replace(/^instances\[\d+\]/, "instance"));
        pending = pending.filter((p) => p !== line);
      }
    }
    return 0;
  };
  try {
    return await withRetries(send, { attempts: sendAttemptsMax, backoff: sendBackoff, retryable: isTransient });
  } catch (error) {
    const connectError = ConnectError.from(error);
    throw new ConnectError(`import stopped at lines ${lines[0]!.line}-${lines[lines.length - 1]!.line}: ${connectError.rawMessage}`, connectError.code);
  }
}

/** The server was unreachable, busy or slow: the same batch may succeed later. */
function isTransient(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Unavailable || code === Code.Aborted || code === Code.DeadlineExceeded;
}

/**
 * Lines of a file as they stream in, split on \n (a trailing \r is dropped). A line longer than
 * `lineBytesMax` comes back with `text` undefined, and is skipped without being kept in memory.
 */
export async function* readLines(
  file: string,
  lineBytesMax: number,
): AsyncGenerator<{ line: number; text: string | undefined; bytesRead: number }> {
  let parts: Buffer[] = [];
  let partsBytes = 0;
  let tooLong = false;
  let line = 0;
  let bytesRead = 0;
  const finish = (tail: Buffer) => {
    line += 1;
    if (tooLong || partsBytes + tail.length > lineBytesMax) return { line, text: undefined, bytesRead };
    let bytes = parts.length === 0 ? tail : Buffer.concat([...parts, tail]);
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    return { line, text: bytes.toString("utf8"), bytesRead };
  };
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    let start = 0;
    for (let newline = chunk.indexOf(0x0a, start); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      yield finish(chunk.subarray(start, newline));
      parts = [];
      partsBytes = 0;
      tooLong = false;
      start = newline + 1;
    }
    const rest = chunk.subarray(start);
    if (tooLong || partsBytes + rest.length > lineBytesMax) {
      tooLong = true;
      parts = [];
    } else if (rest.length > 0) {
      // Copy: the stream may reuse its buffer.
      parts.push(Buffer.from(rest));
    }
    partsBytes += rest.length;
  }
  if (partsBytes > 0) yield finish(Buffer.alloc(0));
}
