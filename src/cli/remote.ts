// What every command that talks to a running server shares: the --server option, the exit codes,
// and turning errors into a message and a distinct exit code. Light on purpose: every command
// definition imports it, so it loads nothing but commander (no protobuf, no Connect) and `tally
// --help` starts fast. The Connect clients are in client.ts, loaded by a command when it runs.
import { CommanderError, type Command } from "commander";
import { ConfigError } from "../config-error.js";

export const defaultServerUrl = "http://localhost:9001";
/** Per call; a reconcile over a long range is the slowest call the CLI makes. */
export const requestTimeoutMs = 10 * 60_000;

/**
 * Exit codes: 0 success, 1 an unexpected local error, 2 a bad command line or configuration, and 10 + the gRPC code
 * for an error answered by (or on the way to) the server, e.g. 13 INVALID_ARGUMENT, 15 NOT_FOUND,
 * 17 PERMISSION_DENIED, 22 UNIMPLEMENTED, 24 UNAVAILABLE, 26 UNAUTHENTICATED.
 * `tally account status` answers "may this team start a workspace?" with 0 (yes), 3 (no: its
 * spending limit is reached) or 4 (no: it is blocked).
 */
export const exitCodes = { ok: 0, unexpected: 1, usage: 2, limitReached: 3, blocked: 4, grpcBase: 10 } as const;

/** A mistake on the command line (exit 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface ServerOptions {
  readonly server?: string;
}

export function withServerOption(command: Command): Command {
  return command.option("--server <url>", `Tally server (env TALLY_SERVER, default ${defaultServerUrl}); token from env TALLY_TOKEN`);
}

export interface MutationOptions extends ServerOptions {
  readonly idempotencyKey?: string;
}

/** A command that changes something: --server, and --idempotency-key for scripts that retry whole commands. */
export function withMutationOptions(command: Command): Command {
  return withServerOption(command).option(
    "--idempotency-key <key>",
    "the request's idempotency key (default: a new UUID per run, reused on this run's own retries); running the command again with the same key changes nothing more",
  );
}

/** Attempts of one mutation: UNAVAILABLE and ABORTED are retried, with the same idempotency key (client.ts). */
export const mutationAttemptsMax = 4;

let serverInUseText: string | undefined;

export function serverUrl(options: ServerOptions): string {
  const text = options.server ?? process.env.TALLY_SERVER ?? defaultServerUrl;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--server ${JSON.stringify(text)} is not a URL like ${defaultServerUrl}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--server ${JSON.stringify(text)} must start with http:// or https://`);
  }
  serverInUseText = text;
  return text.replace(/\/+$/, "");
}

/** The server of this run's last call, for the hint of an UNAVAILABLE error. */
export function serverInUse(): string {
  return serverInUseText ?? defaultServerUrl;
}

/**
 * Prints what went wrong (no stack trace) and returns the exit code. A mistake on the command line
 * or in the configuration is told without loading anything; anything else may be a call's
 * ConnectError, told by client.ts (Connect is loaded by then when a call failed, and `instanceof`
 * sees the same class).
 */
export async function reportError(error: unknown): Promise<number> {
  if (error instanceof CommanderError) return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  if (error instanceof UsageError || error instanceof ConfigError) {
    process.stderr.write(`tally: ${error.message}\n`);
    return exitCodes.usage;
  }
  const { reportConnectError } = await import("./client.js");
  const code = reportConnectError(error);
  if (code !== undefined) return code;
  process.stderr.write(`tally: ${error instanceof Error ? error.message : String(error)}\n`);
  return exitCodes.unexpected;
}
