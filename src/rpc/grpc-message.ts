// connect-es percent-encodes the grpc-message header with encodeURIComponent; grpc-js decodes it
// with decodeURI, which leaves reserved characters (":", "=", "/", ",") encoded, so plain gRPC
// clients would read `attribution_id "team%3Axyz"`. The gRPC spec asks only for percent-encoding
// of bytes outside printable ASCII and of "%" itself; encoded that way, every client reads it right.
import type http from "node:http";

type Headers = http.OutgoingHttpHeaders | Record<string, string | string[]>;

export function reencodeGrpcMessage(value: string): string {
  let text: string;
  try {
    text = decodeURIComponent(value);
  } catch {
    return value;
  }
  return text.replace(/[^\x20-\x24\x26-\x7e]/gu, (character) => encodeURIComponent(character));
}

function fixHeaders<T extends Headers | undefined>(headers: T): T {
  if (headers && typeof headers === "object") {
    const message = (headers as Record<string, unknown>)["grpc-message"];
    if (typeof message === "string") (headers as Record<string, unknown>)["grpc-message"] = reencodeGrpcMessage(message);
  }
  return headers;
}

/** Patches a response to a gRPC request so grpc-message goes out minimally encoded. */
export function minimalGrpcMessageEncoding(response: {
  writeHead: (...args: never[]) => unknown;
  addTrailers: (trailers: never) => void;
}): void {
  const writeHead = response.writeHead.bind(response) as (status: number, headers?: Headers) => unknown;
  const addTrailers = response.addTrailers.bind(response) as (trailers: Headers) => void;
  (response as { writeHead: unknown }).writeHead = (status: number, headers?: Headers) => writeHead(status, fixHeaders(headers));
  (response as { addTrailers: unknown }).addTrailers = (trailers: Headers) => addTrailers(fixHeaders(trailers));
}
