// One port for HTTP/2 (gRPC, gRPC-Web, Connect) and HTTP/1.1 (Connect JSON, gRPC-Web, plain HTTP).
// On Node 20 a cleartext http2 server ignores allowHTTP1, so a net.Server peeks at the first bytes:
// the HTTP/2 connection preface starts with "PRI", anything else is HTTP/1.1.
//
// Every peer gets bounded resources (HttpLimits, all configuration keys): a cap on connections, on
// concurrent HTTP/2 streams per connection and on open streams (and HTTP/1.1 requests) in all, on
// request bytes buffered per connection; deadlines for the first bytes, for headers and for a
// request body to arrive; an idle timeout for a connection without streams; GOAWAY for a connection
// that resets or has refused many streams in a short time (rapid reset). A response sent before the
// request's body was read whole (an oversized message, say) resets the rest of the request at once.
//
// When all maxStreams are taken, every HTTP/2 connection is told (SETTINGS) that it may have no more
// streams than it has: a well-behaved client queues its next calls, and nghttp2 refuses any stream
// sent beyond that (REFUSED_STREAM, safe to retry) before Node creates anything for it. Refusing in
// JavaScript costs a stream object, an error and a stack trace each, and a flood of 120 connections x
// 1,000 streams kept the event loop busy for seconds that way. Once open streams fall to three
// quarters of maxStreams, the connections get maxConcurrentStreams again.
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type RequestHandler = (
  request: http.IncomingMessage | http2.Http2ServerRequest,
  response: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface HttpLimits {
  readonly maxConnections: number;
  readonly maxConcurrentStreams: number;
  /** Open HTTP/2 streams over all connections (HTTP/1.1 requests are bounded by maxConnections). */
  readonly maxStreams: number;
  /** Request bytes read but not yet answered, summed over one connection's streams. */
  readonly connectionBufferedBytesMax: number;
  /**
   * HTTP/2 flow-control windows (request bytes a client may send ahead of Tally reading them), per
   * stream and per connection. At HTTP/2's default of 64 KiB a client uploading a 400 KB batch
   * waits for a WINDOW_UPDATE every 64 KiB, and the server sends none while its event loop is busy
   * with another call: with two batches in flight, ingestion took 20-25 % longer
   * (bench:scale, three runs each at 50,000 instances).
   */
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  /** Headers (HTTP/1.1) and the first bytes of any connection must arrive within this. */
  readonly headersTimeoutMs: number;
  /** A request's body must have arrived whole within this (client-streaming RPCs excepted). */
  readonly requestTimeoutMs: number;
  /** A connection without a stream or request is closed after this. */
  readonly idleTimeoutMs: number;
}

export const defaultHttpLimits: HttpLimits = {
  maxConnections: 1000,
  maxConcurrentStreams: 100,
  maxStreams: 500,
  connectionBufferedBytesMax: 32 * 1024 * 1024,
  streamWindowBytes: 1024 * 1024,
  connectionWindowBytes: 4 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
};

export type RefusalReason =
  | "connections"
  | "streams"
  | "connection_buffer"
  | "headers_timeout"
  | "request_timeout"
  | "idle_timeout"
  | "abuse"
  | "unread_body";

export interface HttpFrontStats {
  readonly connections: { readonly http1: number; readonly http2: number; readonly undecided: number };
  /** Open HTTP/2 streams plus HTTP/1.1 requests in progress. */
  readonly streams: number;
  /** HTTP/2 connections held (SETTINGS) to the streams they have while all streams are taken. */
  readonly throttledConnections: number;
  readonly refused: Readonly<Record<RefusalReason, number>>;
}

export interface HttpFront {
  readonly port: number;
  stats(): HttpFrontStats;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

export interface FrontOptions {
  readonly limits?: HttpLimits;
  /** Paths of client-streaming RPCs, whose request bodies stay open (exempt from requestTimeoutMs). */
  readonly streamingPathPrefixes?: readonly string[];
  readonly onRefused?: (reason: RefusalReason) => void;
}

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A connection whose client reset or had refused this many streams within abuseWindowMs gets GOAWAY
 * (before nghttp2's own limit of about 1000 resets ends it with INTERNAL_ERROR). */
const abuseResetsMax = 500;
const abuseWindowMs = 10_000;
/** Whether the client has sent the whole request (END_STREAM), read by the handler or not. */
function peerEnded(stream: http2.ServerHttp2Stream): boolean {
  return stream.endAfterHeaders || stream.readableEnded || (stream as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** An HTTP/2 connection's open streams, and whether SETTINGS hold it to those (all streams taken). */
interface SessionState {
  streams: number;
  throttled: boolean;
  /** Called when it gets its streams back: a connection without streams starts its idle time then. */
  readonly restored: () => void;
}

export async function listen(handler: RequestHandler, port: number, host: string, options: FrontOptions = {}): Promise<HttpFront> {
  const limits = options.limits ?? defaultHttpLimits;
  const streamingPrefixes = options.streamingPathPrefixes ?? [];
  const refused: Record<RefusalReason, number> = {
    connections: 0,
    streams: 0,
    connection_buffer: 0,
    headers_timeout: 0,
    request_timeout: 0,
    idle_timeout: 0,
    abuse: 0,
    unread_body: 0,
  };
  const refuse = (reason: RefusalReason) => {
    refused[reason] += 1;
    options.onRefused?.(reason);
  };
  const sockets = new Set<net.Socket>();
  /** Open sessions with their open streams and whether their SETTINGS hold them to those. */
  const sessions = new Map<http2.ServerHttp2Session, SessionState>();
  let throttledSessions = 0;
  const restoreAt = Math.floor((limits.maxStreams * 3) / 4);
  const setStreamLimit = (session: http2.ServerHttp2Session, maxConcurrentStreams: number) => {
    if (session.closed || session.destroyed) return;
    try {
      session.settings({ maxConcurrentStreams });
    } catch {
      // Too many SETTINGS left unacknowledged (maxOutstandingSettings): the peer does not read them.
      refuse("abuse");
      session.destroy();
    }
  };
  /** All streams are taken: a session may keep what it has and open no more. */
  const throttle = (session: http2.ServerHttp2Session, state: SessionState) => {
    if (state.throttled) return;
    state.throttled = true;
    throttledSessions += 1;
    setStreamLimit(session, state.streams);
  };
  const throttleAll = () => {
    for (const [session, state] of sessions) throttle(session, state);
  };
  const restoreAll = () => {
    for (const [session, state] of sessions) {
      if (!state.throttled) continue;
      state.throttled = false;
      setStreamLimit(session, limits.maxConcurrentStreams);
      state.restored();
    }
    throttledSessions = 0;
  };
  let http1Sockets = 0;
  let openStreams = 0;
  let http1Requests = 0;
  /** Streams refused before the handler (the compat layer still emits a request for them). */
  const refusedStreams = new WeakSet<http2.ServerHttp2Stream>();
  /** Unary requests whose body is still arriving, with what starts their handler once it is there. */
  const awaitingBody = new WeakMap<http2.ServerHttp2Stream, (() => void) | null>();
  const bodyArrived = (stream: http2.ServerHttp2Stream) => {
    const start = awaitingBody.get(stream);
    if (start === undefined) return;
    awaitingBody.delete(stream);
    // Not from inside push(): the handler reads the stream.
    if (start) process.nextTick(start);
  };
  /** Streams this front reset (not to be counted as the client's resets). */
  const closedByUs = new WeakSet<http2.ServerHttp2Stream>();
  const closeStream = (stream: http2.ServerHttp2Stream, code: number) => {
    closedByUs.add(stream);
    stream.close(code);
  };

  const h2 = http2.createServer({
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, initialWindowSize: limits.streamWindowBytes },
    // Streams opened beyond maxConcurrentStreams are refused by nghttp2; this many end the session.
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
  });
  h2.on("request", (request: http2.Http2ServerRequest, response: http2.Http2ServerResponse) => {
    const stream = request.stream;
    if (refusedStreams.has(stream)) return;
    guardHttp2Request(request, response);
    if (!awaitingBody.has(stream) || peerEnded(stream)) {
      awaitingBody.delete(stream);
      handler(request, response);
      return;
    }
    // The RPC handler (its parsers, abort signals, async iterators) is set up only once the body has
    // arrived whole or fills the stream's buffer: a stream that sends a frame prefix and stops costs
    // the front a stream object and a deadline, not a handler.
    awaitingBody.set(stream, () => {
      // Ended because the stream or its connection closed (the client went away): nobody to answer.
      if (!stream.destroyed && !stream.closed) handler(request, response);
    });
  });
  const h1 = http.createServer(
    {
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
    },
    (request, response) => {
      // One request at a time per HTTP/1.1 connection: maxConnections bounds them (not maxStreams,
      // so that probes over HTTP/1.1 still answer during a flood of HTTP/2 streams).
      http1Requests += 1;
      response.once("close", () => (http1Requests -= 1));
      // Answered before the body was read whole (e.g. too large): the rest is not taken in, the
      // connection is closed after the answer, and the answer says so (connection: close), or a
      // keep-alive client could send its next request on it before it sees the server's FIN.
      // (A request without a body is complete once its headers are parsed, which may come just
      // after the handler's first, synchronous, step.)
      const hasBody = request.headers["transfer-encoding"] !== undefined || Number(request.headers["content-length"] ?? 0) > 0;
      if (hasBody) {
        const writeHead = response.writeHead;
        response.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
          if (!request.complete && !this.headersSent) this.setHeader("connection", "close");
          return writeHead.apply(this, args);
        } as typeof writeHead;
      }
      response.once("finish", () => {
        if (!request.complete) {
          refuse("unread_body");
          request.socket.end();
        }
      });
      handler(request, response);
    },
  );
  h1.keepAliveTimeout = limits.idleTimeoutMs;
  // http.Server tracks its connections (for closeIdleConnections and header timeouts) from its
  // 'listening' event; this one never listens itself, the front does, so start tracking now.
  h1.emit("listening");
  h1.on("clientError", (error: NodeJS.ErrnoException, socket: net.Socket) => {
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") refuse("request_timeout");
    else if (error.code === "ERR_HTTP_HEADERS_TIMEOUT") refuse("headers_timeout");
    if (socket.writable && !socket.destroyed) {
      const status = error.code === "ERR_HTTP_REQUEST_TIMEOUT" || error.code === "ERR_HTTP_HEADERS_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });

  h2.on("session", (session) => watchSession(session));

  function watchSession(session: http2.ServerHttp2Session): void {
    // The connection's window is not a SETTINGS value: it grows by a WINDOW_UPDATE from 64 KiB.
    if (limits.connectionWindowBytes > 65_535) session.setLocalWindowSize(limits.connectionWindowBytes);
    const state: SessionState = { streams: 0, throttled: false, restored: () => state.streams === 0 && startIdle() };
    sessions.set(session, state);
    // Connected while all streams are taken: held to none from the start (nghttp2 refuses any stream
    // the client sent before it read this SETTINGS).
    if (openStreams >= limits.maxStreams) throttle(session, state);
    let bufferedBytes = 0;
    let resets: number[] = [];
    let idle: NodeJS.Timeout | undefined;
    const startIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        // Held to the streams it has while all are taken (throttle): it waits for us, not idles; its
        // idle time starts again when it gets its streams back.
        if (state.throttled) return;
        refuse("idle_timeout");
        if (!session.closed && !session.destroyed) session.goaway(NGHTTP2_NO_ERROR);
        session.close();
        // A peer that keeps the connection open after GOAWAY is cut.
        setTimeout(() => session.destroy(), 1000).unref();
      }, limits.idleTimeoutMs);
      idle.unref();
    };
    const noteReset = () => {
      const now = performance.now();
      resets.push(now);
      if (resets.length > abuseResetsMax) {
        resets = resets.filter((at) => now - at <= abuseWindowMs);
        if (resets.length > abuseResetsMax && !session.destroyed) {
          refuse("abuse");
          session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
          session.destroy();
        }
      }
    };
    startIdle();
    session.on("close", () => {
      clearTimeout(idle);
      if (state.throttled) throttledSessions -= 1;
      sessions.delete(session);
    });
    session.on("error", () => session.destroy());
    // Runs before the compat layer turns the stream into a request (prependListener on the server).
    session.prependListener("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        if (openStreams >= limits.maxStreams) {
          refusedStreams.add(stream);
          refuse("streams");
          noteReset();
          throttle(session, state);
          stream.close(NGHTTP2_REFUSED_STREAM);
          return;
        }
        openStreams += 1;
        state.streams += 1;
        if (openStreams >= limits.maxStreams) throttleAll();
        clearTimeout(idle);
        let streamBytes = 0;
        const path = String(headers[":path"] ?? "");
        const streaming = streamingPrefixes.some((prefix) => path.startsWith(prefix));
        if (!streaming) awaitingBody.set(stream, null);
        const bodyDeadline = streaming
          ? undefined
          : setTimeout(() => {
              if (stream.closed || stream.destroyed || peerEnded(stream)) return;
              refuse("request_timeout");
              closeStream(stream, NGHTTP2_CANCEL);
            }, limits.requestTimeoutMs);
        bodyDeadline?.unref();
        // Counts the bytes as they are read (by whoever reads them): they are buffered until the
        // stream closes.
        const originalPush = stream.push.bind(stream);
        stream.push = (chunk: unknown, encoding?: BufferEncoding) => {
          if (chunk && (chunk as Buffer).length) {
            streamBytes += (chunk as Buffer).length;
            bufferedBytes += (chunk as Buffer).length;
            if (bufferedBytes > limits.connectionBufferedBytesMax && !stream.closed) {
              refuse("connection_buffer");
              closeStream(stream, NGHTTP2_ENHANCE_YOUR_CALM);
              return false;
            }
          }
          const more = originalPush(chunk, encoding);
          // The whole body (END_STREAM) or as much as the stream buffers: the handler may start.
          if (chunk === null || !more) bodyArrived(stream);
          return more;
        };
        stream.once("close", () => {
          // Reset by the client before the answer was complete.
          if (stream.rstCode !== undefined && stream.rstCode !== NGHTTP2_NO_ERROR && !closedByUs.has(stream)) noteReset();
          clearTimeout(bodyDeadline);
          openStreams -= 1;
          state.streams -= 1;
          bufferedBytes -= streamBytes;
          if (throttledSessions > 0 && openStreams <= restoreAt) restoreAll();
          if (state.streams === 0 && !session.closed) startIdle();
        });
    });
  }

  /** A response finished before the request's body was read whole: the rest is refused at once. */
  function guardHttp2Request(request: http2.Http2ServerRequest, response: http2.Http2ServerResponse): void {
    response.once("finish", () => {
      const stream = request.stream;
      if (!peerEnded(stream) && !stream.closed && !stream.destroyed) {
        refuse("unread_body");
        // RFC 9113 8.1: after a complete response, RST_STREAM NO_ERROR asks the client to stop sending.
        closeStream(stream, NGHTTP2_NO_ERROR);
      }
    });
  }

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.setTimeout(limits.headersTimeoutMs, () => {
      refuse("headers_timeout");
      socket.destroy();
    });
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
        http1Sockets += 1;
        socket.once("close", () => (http1Sockets -= 1));
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
  front.maxConnections = limits.maxConnections;
  front.on("drop", () => refuse("connections"));

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
    stats: () => ({
      connections: { http1: http1Sockets, http2: sessions.size, undecided: Math.max(0, sockets.size - http1Sockets - sessions.size) },
      streams: openStreams + http1Requests,
      throttledConnections: throttledSessions,
      refused: { ...refused },
    }),
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      h1.close();
      h1.closeIdleConnections();
      for (const session of sessions.keys()) session.close();
      const deadline = setTimeout(() => {
        h1.closeAllConnections();
        for (const session of sessions.keys()) session.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(deadline);
    },
  };
}
