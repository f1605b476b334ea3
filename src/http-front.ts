// One port for HTTP/2 (gRPC, gRPC-Web, Connect) and HTTP/1.1 (Connect JSON, gRPC-Web, plain HTTP).
// On Node 20 a cleartext http2 server ignores allowHTTP1, so a net.Server peeks at the first bytes:
// the HTTP/2 connection preface starts with "PRI", anything else is HTTP/1.1.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type RequestHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface HttpFront {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** How long a connection may stay silent before its first bytes arrive. */
const firstBytesTimeoutMs = 10_000;

export async function listen(handler: RequestHandler, port: number, host: string): Promise<HttpFront> {
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = 65_000;
  // http.Server tracks its connections (for closeIdleConnections and header timeouts) from its
  // 'listening' event; this one never listens itself, the front does, so start tracking now.
  h1.emit("listening");
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.setTimeout(firstBytesTimeoutMs, () => socket.destroy());
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const compared = Math.min(buffered.length, http2Preface.length);
      const isPrefaceSoFar = buffered.subarray(0, compared).equals(http2Preface.subarray(0, compared));
      // Wait for more bytes only while the data could still be either protocol.
      if (isPrefaceSoFar && compared < 3) return;
      socket.off("data", onData);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(buffered);
      // http2 feeds what is buffered into its session on the next tick and reads on natively;
      // http needs the socket flowing again to see the unshifted bytes.
      if (isPrefaceSoFar) {
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(port, host, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const address = front.address() as net.AddressInfo;

  return {
    port: address.port,
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      h1.close();
      h1.closeIdleConnections();
      for (const session of sessions) session.close();
      const deadline = setTimeout(() => {
        h1.closeAllConnections();
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(deadline);
    },
  };
}
