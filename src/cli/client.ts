// The Connect side of the commands that talk to a running server: clients carrying the token from
// TALLY_TOKEN, mutations with an idempotency key and retries, and how a call's error is told. Loaded
// by a command when it runs (never by `tally --help`): it brings in protobuf and Connect.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type CallOptions, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { exitCodes, mutationAttemptsMax, requestTimeoutMs, serverInUse, serverUrl, type MutationOptions, type ServerOptions } from "./remote.js";

/** Wait before the first retry of a mutation; doubled for each further one. */
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
      return ` (is a Tally server running at ${serverInUse()}? Choose another with --server or TALLY_SERVER)`;
    case Code.Unauthenticated:
      return process.env.TALLY_TOKEN ? " (check TALLY_TOKEN)" : " (set TALLY_TOKEN to an API token)";
    case Code.PermissionDenied:
      return " (this needs a token with role admin)";
    default:
      return "";
  }
}

/** A call's error: prints it (code name, message, a hint) and returns its exit code, 10 + the gRPC code. Undefined for any other error. */
export function reportConnectError(error: unknown): number | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  process.stderr.write(`tally: ${codeName(error.code)}: ${error.rawMessage}${hintFor(error.code)}\n`);
  return exitCodes.grpcBase + error.code;
}
