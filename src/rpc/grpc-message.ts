// Two mends to gRPC status headers on their way out, at the wire where they arise:
// 1. connect-es percent-encodes grpc-message with encodeURIComponent; grpc-js decodes it with
//    decodeURI, which leaves reserved characters (":", "=", "/", ",") encoded, so plain gRPC
//    clients would read `attribution_id "team%3Axyz"`. The gRPC spec asks only for percent-encoding
//    of bytes outside printable ASCII and of "%" itself; encoded that way, every client reads it.
// 2. connect-es reports a request body that is not a valid protobuf message as INTERNAL (its
//    serializer is shared with clients, where a bad response is the server's fault). On a server
//    it is the caller's bad input: INVALID_ARGUMENT.
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

const grpcInternal = "13";
const grpcInvalidArgument = "3";

function fixHeaders<T extends Headers | undefined>(headers: T): T {
  if (headers && typeof headers === "object") {
    const fields = headers as Record<string, unknown>;
    const message = fields["grpc-message"];
    if (typeof message === "string") {
      const text = reencodeGrpcMessage(message);
      fields["grpc-message"] = text;
      if (fields["grpc-status"] === grpcInternal && text.startsWith("parse binary:")) {
        fields["grpc-status"] = grpcInvalidArgument;
        fields["grpc-message"] = `request is not a valid protobuf message (${text})`;
      }
    }
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
