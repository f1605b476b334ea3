// connect-node's connectNodeAdapter, with two mends for bad input at the wire where it arises
// (connect-es gives no hook for either):
// 1. Connect JSON requests are strict (see strict-json.ts): unknown fields and enum names, hex or
//    fractional integers and impossible dates answer invalid_argument naming the field. Binary
//    protobuf keeps ignoring unknown fields (forward compatibility).
// 2. A binary body that is not a protobuf message answers invalid_argument over Connect and
//    gRPC-Web as over gRPC (grpc-message.ts): connect-es reports it as internal (its serializer is
//    shared with clients, where a bad response is the server's fault).
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import {
  createAsyncIterable,
  readAllBytes,
  type UniversalHandler,
  type UniversalServerRequest,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import type http from "node:http";
import type http2 from "node:http2";
import { strictJsonProblem } from "./strict-json.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface NodeAdapterOptions extends ConnectRouterOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly fallback: (request: NodeRequest, response: NodeResponse) => void;
  readonly readMaxBytes: number;
}

const compressions = [compressionGzip, compressionBrotli];
const utf8 = new TextDecoder("utf-8", { fatal: true });
const connectUnaryJson = /^application\/json(;|$)/i;
const grpcWeb = /^application\/grpc-web(-text)?(\+|;|$)/i;
const connectStreaming = /^application\/connect\+/i;
const parseBinaryPrefix = "parse binary:";
const notAMessage = (detail: string) => `request is not a valid protobuf message (${detail})`;

export function nodeAdapter(options: NodeAdapterOptions): (request: NodeRequest, response: NodeResponse) => void {
  const router = createConnectRouter({
    acceptCompression: compressions,
    ...options,
    // The parser refuses unknown field and enum names; strict-json.ts adds the rest.
    jsonOptions: { ...options.jsonOptions, ignoreUnknownFields: false },
  });
  options.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) paths.set(handler.requestPath, mended(handler, options.readMaxBytes));
  return (request, response) => {
    const handler = paths.get(request.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      options.fallback(request, response);
      return;
    }
    const universal = universalRequestFromNodeRequest(request, response, undefined, undefined);
    handler(universal)
      .then((answer) => universalResponseToNodeResponse(answer, response))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        // What connectNodeAdapter does too: the response is beyond repair, the stream is reset.
        console.error(`handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`, reason);
      });
  };
}

function mended(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const isUnary = handler.method.methodKind === "unary";
  const mend = async (request: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const contentType = request.header.get("content-type") ?? "";
    if (isUnary && request.method === "POST" && connectUnaryJson.test(contentType)) {
      const checked = await strictJsonBody(handler, request, readMaxBytes);
      if ("error" in checked) return connectErrorResponse(checked.error);
      request = { ...request, body: checked.json as never };
    }
    const answer = await handler(request);
    if (connectUnaryJson.test(answer.header?.get("content-type") ?? "") && answer.status === 500) return mendConnectUnary(answer);
    if (grpcWeb.test(contentType) || connectStreaming.test(contentType)) return mendEnvelopes(answer);
    return answer;
  };
  return Object.assign(mend, {
    requestPath: handler.requestPath,
    method: handler.method,
    service: handler.service,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  }) as UniversalHandler;
}

/** The parsed JSON body of a Connect unary request, or the error to answer instead. */
async function strictJsonBody(handler: UniversalHandler, request: UniversalServerRequest, readMaxBytes: number): Promise<{ json: unknown } | { error: ConnectError }> {
  try {
    const body = request.body;
    let bytes =
      typeof body === "object" && body !== null && Symbol.asyncIterator in body
        ? await readAllBytes(body as AsyncIterable<Uint8Array>, readMaxBytes, request.header.get("content-length"))
        : undefined;
    if (bytes === undefined) return { json: body };
    const encoding = request.header.get("content-encoding");
    if (encoding && encoding !== "identity") {
      const compression = compressions.find((candidate) => candidate.name === encoding);
      // Unsupported encodings are connect's to refuse.
      if (!compression) return { json: JSON.parse(utf8.decode(bytes)) as unknown };
      bytes = await compression.decompress(bytes, readMaxBytes);
    }
    let json: unknown;
    try {
      json = JSON.parse(utf8.decode(bytes));
    } catch (error) {
      return { error: new ConnectError(`request is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, Code.InvalidArgument) };
    }
    const problem = strictJsonProblem(handler.method.input, json);
    return problem ? { error: new ConnectError(problem, Code.InvalidArgument) } : { json };
  } catch (error) {
    return { error: ConnectError.from(error, Code.InvalidArgument) };
  }
}

const httpStatusOf: Partial<Record<Code, number>> = { [Code.InvalidArgument]: 400, [Code.ResourceExhausted]: 429 };
const codeText = (code: Code) => Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();

function connectErrorResponse(error: ConnectError): UniversalServerResponse {
  const body = new TextEncoder().encode(JSON.stringify({ code: codeText(error.code), message: error.rawMessage }));
  return {
    status: httpStatusOf[error.code] ?? 500,
    header: new Headers({ "content-type": "application/json", "content-length": String(body.byteLength) }),
    body: createAsyncIterable([body]),
  };
}

/** A Connect unary error response: internal "parse binary: ..." becomes invalid_argument. */
async function mendConnectUnary(answer: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (!answer.body || answer.header?.get("content-encoding")) return answer;
  const chunks: Uint8Array[] = [];
  for await (const chunk of answer.body) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const keep = { ...answer, body: createAsyncIterable([bytes]) };
  let error: { code?: unknown; message?: unknown };
  try {
    error = JSON.parse(bytes.toString("utf8")) as typeof error;
  } catch {
    return keep;
  }
  if (error.code !== "internal" || typeof error.message !== "string" || !error.message.startsWith(parseBinaryPrefix)) return keep;
  const mendedError = connectErrorResponse(new ConnectError(notAMessage(error.message), Code.InvalidArgument));
  const header = new Headers(answer.header);
  header.set("content-length", mendedError.header!.get("content-length")!);
  return { ...mendedError, header };
}

/**
 * gRPC-Web and Connect streaming end with an envelope of their own (flag 0x80: gRPC-Web trailers;
 * 0x02: Connect end-of-stream JSON). When it reports "parse binary" as internal, it is rewritten.
 */
function mendEnvelopes(answer: UniversalServerResponse): UniversalServerResponse {
  const body = answer.body;
  if (!body) return answer;
  return {
    ...answer,
    body: (async function* () {
      for await (const chunk of body) yield mendEnvelope(chunk);
    })(),
  };
}

function mendEnvelope(chunk: Uint8Array): Uint8Array {
  if (chunk.byteLength < 5) return chunk;
  const flags = chunk[0]!;
  const length = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).readUInt32BE(1);
  if (length !== chunk.byteLength - 5) return chunk;
  const text = Buffer.from(chunk.buffer, chunk.byteOffset + 5, length).toString("utf8");
  let mendedText: string | undefined;
  if (flags === 0x80) {
    const status = /^grpc-status: *(\d+)\r?$/im.exec(text)?.[1];
    const message = /^grpc-message: *(.*?)\r?$/im.exec(text)?.[1];
    const decoded = message === undefined ? undefined : safeDecode(message);
    if (status === String(Code.Internal) && decoded?.startsWith(parseBinaryPrefix)) {
      mendedText = `grpc-status: ${Code.InvalidArgument}\r\ngrpc-message: ${encodeURIComponent(notAMessage(decoded))}\r\n`;
    }
  } else if (flags === 0x02) {
    try {
      const end = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      const error = end.error;
      if (error?.code === "internal" && typeof error.message === "string" && error.message.startsWith(parseBinaryPrefix)) {
        mendedText = JSON.stringify({ ...end, error: { ...error, code: "invalid_argument", message: notAMessage(error.message) } });
      }
    } catch {
      return chunk;
    }
  }
  if (mendedText === undefined) return chunk;
  const payload = Buffer.from(mendedText, "utf8");
  const envelope = Buffer.alloc(5 + payload.byteLength);
  envelope[0] = flags;
  envelope.writeUInt32BE(payload.byteLength, 1);
  payload.copy(envelope, 5);
  return envelope;
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
