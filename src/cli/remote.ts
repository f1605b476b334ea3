// What every command that talks to a running server shares: the --server option, Connect clients
// carrying the token from TALLY_TOKEN, and turning errors into a message and a distinct exit code.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
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

/** Attempts of one mutation: UNAVAILABLE and ABORTED are retried, with the same idempotency key. */
export const mutationAttemptsMax = 4;
/** Wait before the first retry; doubled for each further one. */
const mutationRetryDelayMs = 250;

/**
 * Calls a mutation with one idempotency key for this user action, retrying what may have failed on
 * the way (the server or its database unavailable, a conflict): the server books it at most once.
 */
export async function callMutation<T>(options: MutationOptions, call: (callOptions: CallOptions) => Promise<T>): Promise<T> {
  const callOptions: CallOptions = { headers: { "idempotency-key": options.idempotencyKey ?? randomUUID() } };
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(callOptions);
    } catch (error) {
      const code = error instanceof ConnectError ? error.code : undefined;
      if (attempt >= mutationAttemptsMax || (code !== Code.Unavailable && code !== Code.Aborted)) throw error;
      await new Promise((resolve) => setTimeout(resolve, mutationRetryDelayMs * 2 ** (attempt - 1)));
    }
  }
}

let serverInUse: string | undefined;

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
  serverInUse = text;
  return text.replace(/\/+$/, "");
}

/** A client of one service on the chosen server (Connect protocol, binary, HTTP/1.1: passes any proxy). */
export function clientFor<S extends DescService>(service: S, options: ServerOptions): Client<S> {
  const token = process.env.TALLY_TOKEN;
  const interceptors: Interceptor[] = [];
  if (token) {
    interceptors.push((next) => async (request) => {
      request.header.set("authorization", `Bearer ${token}`);
      return next(request);
    });
  }
  const transport = createConnectTransport({
    baseUrl: serverUrl(options),
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors,
    defaultTimeoutMs: requestTimeoutMs,
  });
  return createClient(service, transport);
}

/** gRPC code names as gRPC writes them. */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

function hintFor(code: Code): string {
  switch (code) {
    case Code.Unavailable:
      return ` (is a Tally server running at ${serverInUse ?? defaultServerUrl}? Choose another with --server or TALLY_SERVER)`;
    case Code.Unauthenticated:
      return process.env.TALLY_TOKEN ? " (check TALLY_TOKEN)" : " (set TALLY_TOKEN to an API token)";
    case Code.PermissionDenied:
      return " (this needs a token with role admin)";
    default:
      return "";
  }
}

/** Prints what went wrong (no stack trace) and returns the exit code. */
export function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  if (error instanceof UsageError || error instanceof ConfigError) {
    process.stderr.write(`tally: ${error.message}\n`);
    return exitCodes.usage;
  }
  if (error instanceof ConnectError) {
    process.stderr.write(`tally: ${codeName(error.code)}: ${error.rawMessage}${hintFor(error.code)}\n`);
    return exitCodes.grpcBase + error.code;
  }
  process.stderr.write(`tally: ${error instanceof Error ? error.message : String(error)}\n`);
  return exitCodes.unexpected;
}
