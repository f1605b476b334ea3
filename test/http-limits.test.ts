// Bounded resources per peer (the fault suite's attacks at CI scale): a stream flood that sends only
// 5-byte frame prefixes, slow and silent connections, rapid reset, too many connections, and an
// oversized message whose upload must be cut at once. The server stays up and /healthz answers.
import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { UsageService } from "../src/gen/usage/v1/usage_pb.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openStreamsAfter, streamFlood } from "./support/stream-flood.js";
import { spawnTally, stopTally } from "./support/tally-process.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

const prefixOnly = Buffer.from([0, 0, 0, 0, 10]);

function grpcRequest(session: http2.ClientHttp2Session, path = "/usage.v1.UsageService/GetBalance"): http2.ClientHttp2Stream {
  return session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function metric(t: TestTally, name: string): Promise<string[]> {
  const text = await (await fetch(`${t.tally.url}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith(name));
}

function refusedCount(lines: string[], reason: string): number {
  const line = lines.find((candidate) => candidate.includes(`reason="${reason}"`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("bounded resources per peer", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally({
      env: {
        TALLY_HTTP2_MAX_CONCURRENT_STREAMS: "20",
        TALLY_HTTP_MAX_STREAMS: "200",
        TALLY_HTTP_MAX_CONNECTIONS: "60",
        TALLY_HTTP_REQUEST_TIMEOUT: "2s",
        TALLY_HTTP_HEADERS_TIMEOUT: "2s",
        TALLY_HTTP_IDLE_TIMEOUT: "2s",
      },
    });
  });
  after(async () => {
    await t?.stop();
  });

  it("grants each stream a 1 MiB and each connection a 4 MiB flow-control window, so a batch uploads without waiting for a busy server", async () => {
    const session = http2.connect(t.tally.url);
    try {
      await new Promise((resolve) => session.once("remoteSettings", resolve));
      assert.equal(session.remoteSettings.initialWindowSize, 1024 * 1024);
      // The connection's window grows by a WINDOW_UPDATE, which follows the SETTINGS.
      for (let i = 0; i < 100 && session.state.remoteWindowSize !== 4 * 1024 * 1024; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(session.state.remoteWindowSize, 4 * 1024 * 1024);
    } finally {
      session.close();
    }
  });

  it("answers a 9 MB message RESOURCE_EXHAUSTED and resets its upload at once", async () => {
    const session = http2.connect(t.tally.url);
    try {
      const stream = grpcRequest(session);
      const size = 9 * 1024 * 1024;
      const header = Buffer.alloc(5);
      header.writeUInt32BE(size, 1);
      stream.write(header);
      const chunk = Buffer.alloc(64 * 1024, 1);
      let written = 0;
      const writing = (async () => {
        while (written < size && !stream.closed && !stream.destroyed) {
          if (!stream.write(chunk)) await new Promise((resolve) => { stream.once("drain", resolve); stream.once("close", resolve); });
          written += chunk.length;
        }
      })();
      let status: string | undefined;
      stream.on("response", (headers) => (status ??= headers["grpc-status"] as string | undefined));
      stream.on("trailers", (trailers) => (status ??= trailers["grpc-status"] as string | undefined));
      stream.on("error", () => {});
      stream.resume();
      const closed = await Promise.race([new Promise((resolve) => stream.once("close", () => resolve(true))), sleep(10_000).then(() => false)]);
      assert.equal(closed, true, "the stream was not reset: the client would hang uploading");
      await writing;
      assert.equal(status, "8");
      assert.ok(written < size, `the client uploaded all ${size} bytes`);
    } finally {
      session.destroy();
    }
  });

  it("HTTP/1.1: an answer sent before the request body has arrived says connection: close, so a keep-alive client never reuses a connection the server closes", async () => {
    // A message announced too large is answered at once (RESOURCE_EXHAUSTED) and the rest of its
    // body is not read: the server closes the connection after the answer. A keep-alive client may
    // send its next request on the connection as soon as the answer is complete (before the server's
    // FIN reaches it): told nothing, it loses that request.
    const socket = net.connect(t.tally.port, "127.0.0.1");
    socket.on("error", () => {});
    let received = "";
    let ended = false;
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("close", () => (ended = true));
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const announced = 9 * 1024 * 1024;
    socket.write(
      "POST /usage.v1.UsageService/GetBalance HTTP/1.1\r\nhost: tally\r\ncontent-type: application/json\r\n" +
        `content-length: ${announced}\r\n\r\n{"costCenterId":`,
    );
    // Wait for the whole first answer (its headers and content-length bytes).
    const firstAnswer = async () => {
      for (let i = 0; i < 100; i++) {
        const end = received.indexOf("\r\n\r\n");
        if (end >= 0) {
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(received.slice(0, end))?.[1] ?? 0);
          if (received.length >= end + 4 + length) return received.slice(0, end);
        }
        await sleep(50);
      }
      throw new Error(`no answer: ${JSON.stringify(received)}`);
    };
    const head = await firstAnswer();
    assert.match(head, /^HTTP\/1\.1 4\d\d /, head);
    // The client reuses the connection right away: a second request (the body it announced is cut
    // short by the server anyway).
    const second = "GET /healthz HTTP/1.1\r\nhost: tally\r\n\r\n";
    socket.write(second);
    for (let i = 0; i < 60 && !ended && !/HTTP\/1\.1 200/.test(received); i++) await sleep(50);
    const reusedAndAnswered = /HTTP\/1\.1 200/.test(received);
    socket.destroy();
    // Either the server keeps the connection and answers, or it said it would close it.
    assert.ok(reusedAndAnswered || /\r\nconnection: *close\r\n/i.test(head), `first answer without "connection: close" and the reused connection was dropped:\n${head}`);
    assert.match(head, /\r\nconnection: *close\r\n/i, head);
    // The same over Node's keep-alive agent: the next call gets a new connection and its answer.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const sockets = new Set<net.Socket>();
      const call = (method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer) =>
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          const request = http.request({ host: "127.0.0.1", port: t.tally.port, method, path, headers, agent }, (response) => {
            response.resume();
            response.on("end", () => resolve({ status: response.statusCode!, connection: response.headers.connection }));
          });
          request.on("socket", (used) => sockets.add(used));
          request.on("error", reject);
          if (body) request.write(body);
          request.end();
        });
      const tooLarge = await call("POST", "/usage.v1.UsageService/GetBalance", { "content-type": "application/json", "content-length": announced }, Buffer.alloc(0));
      assert.ok(tooLarge.status >= 400, String(tooLarge.status));
      assert.equal(tooLarge.connection, "close");
      const probe = await call("GET", "/healthz", {});
      assert.equal(probe.status, 200);
      assert.equal(sockets.size, 2, "the second call went on a new connection");
    } finally {
      agent.destroy();
    }
  });

  it("HTTP/1.1: answers 408 and closes the connection when a request body does not arrive within the request timeout", async () => {
    const before = refusedCount(await metric(t, "tally_http_refused_total"), "request_timeout");
    const socket = net.connect(t.tally.port, "127.0.0.1");
    socket.on("error", () => {});
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const closed = new Promise<number>((resolve) => {
      const started = performance.now();
      socket.once("close", () => resolve(performance.now() - started));
    });
    socket.write("POST /usage.v1.UsageService/GetBalance HTTP/1.1\r\nhost: tally\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"costCenterId\":");
    const heldMs = await Promise.race([closed, sleep(10_000).then(() => Number.POSITIVE_INFINITY)]);
    socket.destroy();
    // TALLY_HTTP_REQUEST_TIMEOUT is 2 s here (Node checks every 500 ms).
    assert.ok(heldMs < 6000, `a slow body held the connection ${heldMs.toFixed(0)} ms`);
    assert.match(received, /^HTTP\/1\.1 408 /, received);
    assert.ok(refusedCount(await metric(t, "tally_http_refused_total"), "request_timeout") > before);
  });

  it("while all streams are taken, holds every HTTP/2 connection to the streams it has (SETTINGS), refusing the rest in nghttp2; a waiting client's call goes through once streams are free", async () => {
    const refusedBefore = refusedCount(await metric(t, "tally_http_refused_total"), "streams");
    // 10 connections x 20 streams that send a frame prefix and stop: all 200 streams taken until the
    // body deadline (2 s) cuts them. Each attacker queues 20 more, which must not reach the server.
    const attackers = Array.from({ length: 10 }, () => {
      const session = http2.connect(t.tally.url);
      session.on("error", () => {});
      for (let i = 0; i < 40; i++) {
        const stream = grpcRequest(session);
        stream.on("error", () => {});
        stream.write(prefixOnly);
      }
      return session;
    });
    try {
      const openStreams = async () => Number((await metric(t, "tally_http_streams "))[0]?.split(" ").at(-1) ?? 0);
      for (let i = 0; i < 100 && (await openStreams()) < 201; i++) await sleep(20);
      const client = http2.connect(t.tally.url);
      client.on("error", () => {});
      try {
        await new Promise<void>((resolve) => client.once("remoteSettings", () => resolve()));
        for (let i = 0; i < 40 && client.remoteSettings.maxConcurrentStreams !== 0; i++) await sleep(50);
        assert.equal(client.remoteSettings.maxConcurrentStreams, 0, "a new connection may open no stream while all are taken");
        const throttledNow = async () => Number((await metric(t, "tally_http_connections_throttled "))[0]?.split(" ").at(-1));
        let throttled = await throttledNow();
        for (let i = 0; i < 10 && !(throttled >= 1); i++) throttled = await throttledNow();
        assert.ok(throttled >= 1, `tally_http_connections_throttled ${throttled}`);
        // Its call waits in the client and is answered once the deadline frees streams. The attackers'
        // queued streams race it for the freed ones: a stream the client sent just as all were taken
        // again is refused (REFUSED_STREAM: not processed, so gRPC clients retry it transparently), as
        // a client would, it tries again.
        const started = performance.now();
        const call = () =>
          new Promise<number>((resolve, reject) => {
            const stream = client.request({ ":method": "GET", ":path": "/healthz" });
            stream.once("response", (headers) => resolve(Number(headers[":status"])));
            stream.once("error", reject);
            stream.resume();
            stream.end();
          });
        let status = 0;
        for (let refusedCalls = 0; status === 0; refusedCalls += 1) {
          try {
            status = await call();
          } catch (error) {
            if (!/REFUSED_STREAM/.test(String(error)) || refusedCalls >= 5) throw error;
            await sleep(50);
          }
        }
        assert.equal(status, 200);
        assert.ok(performance.now() - started < 10_000);
        const allowed = () => client.remoteSettings.maxConcurrentStreams as number;
        for (let i = 0; i < 100 && allowed() !== 20; i++) await sleep(50);
        assert.equal(allowed(), 20, "the connection gets its streams back");
      } finally {
        client.destroy();
      }
      // nghttp2 refused the attackers' queued streams; Tally saw few of them (those already on the way).
      const refusedInTally = refusedCount(await metric(t, "tally_http_refused_total"), "streams") - refusedBefore;
      assert.ok(refusedInTally < 100, `${refusedInTally} streams refused by Tally itself`);
    } finally {
      for (const session of attackers) session.destroy();
    }
  });

  it("closes a connection that sends only the HTTP/2 preface, or half a header, or nothing", async () => {
    const closedWithin = (socket: net.Socket) =>
      new Promise<number>((resolve) => {
        const started = performance.now();
        socket.on("error", () => {});
        socket.resume();
        socket.once("close", () => resolve(performance.now() - started));
      });
    const prefaceOnly = net.connect(t.tally.port, "127.0.0.1", () => prefaceOnly.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"));
    const halfHeader = net.connect(t.tally.port, "127.0.0.1", () => halfHeader.write("POST /usage.v1.UsageService/GetBalance HTTP/1.1\r\nhost: x\r\n"));
    const silent = net.connect(t.tally.port, "127.0.0.1");
    const [preface, half, none] = await Promise.all([closedWithin(prefaceOnly), closedWithin(halfHeader), closedWithin(silent)]);
    assert.ok(preface < 8000, `preface-only connection held ${preface.toFixed(0)} ms`);
    assert.ok(half < 8000, `half-header connection held ${half.toFixed(0)} ms`);
    assert.ok(none < 8000, `silent connection held ${none.toFixed(0)} ms`);
  });

  it("sends GOAWAY to a connection that resets streams as fast as it opens them (rapid reset)", async () => {
    const session = http2.connect(t.tally.url);
    session.on("error", () => {});
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code) => resolve(code)));
    const closed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    for (let i = 0; i < 3000 && !session.closed && !session.destroyed; i++) {
      const stream = grpcRequest(session);
      stream.on("error", () => {});
      stream.close(http2.constants.NGHTTP2_CANCEL);
      if (i % 100 === 0) await sleep(1);
    }
    const code = await Promise.race([goaway, closed.then(() => -1), sleep(10_000).then(() => -2)]);
    session.destroy();
    const refused = await metric(t, "tally_http_refused_total");
    // Tally's own count (ENHANCE_YOUR_CALM) or nghttp2's reset rate limit (INTERNAL_ERROR), whichever comes first.
    assert.ok([http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, http2.constants.NGHTTP2_INTERNAL_ERROR, -1].includes(code), `goaway code ${code}; ${refused.join(" / ")}`);
    assert.equal((await fetch(`${t.tally.url}/healthz`)).status, 200);
  });

  it("closes connections beyond the cap at once, and counts them", async () => {
    const sockets = Array.from({ length: 70 }, () => net.connect(t.tally.port, "127.0.0.1"));
    for (const socket of sockets) socket.on("error", () => {});
    await sleep(500);
    const closedEarly = sockets.filter((socket) => socket.destroyed || socket.readyState === "closed").length;
    for (const socket of sockets) socket.destroy();
    await sleep(200);
    let refusedLines = await metric(t, "tally_http_refused_total");
    for (let i = 0; i < 50 && refusedCount(refusedLines, "connections") < 10; i++) {
      await sleep(100);
      refusedLines = await metric(t, "tally_http_refused_total");
    }
    assert.ok(refusedCount(refusedLines, "connections") >= 10, `closed early: ${closedEarly}; ${refusedLines.join(" / ")}`);
    const connections = await metric(t, "tally_http_connections");
    assert.ok(connections.some((line) => line.startsWith('tally_http_connections{protocol="http1"}')), connections.join("\n"));
  });
});

describe("one HTTP/2 connection with the default stream limits", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally({ env: { TALLY_HTTP_CONNECTION_BUFFERED_BYTES_MAX: "1048576", TALLY_HTTP_REQUEST_TIMEOUT: "10s" } });
  });
  after(async () => {
    await t?.stop();
  });

  it("carries 100 concurrent calls of one client", async () => {
    const transport = createGrpcTransport({ baseUrl: t.tally.url });
    const usage = createClient(UsageService, transport);
    const id = `team:${randomUUID()}`;
    const calls = await Promise.allSettled(Array.from({ length: 100 }, () => usage.getBalance({ attributionId: id })));
    const failed = calls.filter((call) => call.status === "rejected");
    assert.equal(failed.length, 0, String((failed[0] as PromiseRejectedResult | undefined)?.reason));
    assert.equal(refusedCount(await metric(t, "tally_http_refused_total"), "streams"), 0);
  });

  it("resets the stream that takes a connection past TALLY_HTTP_CONNECTION_BUFFERED_BYTES_MAX; the connection's other streams and the server go on", async () => {
    const session = http2.connect(t.tally.url);
    session.on("error", () => {});
    try {
      // Four messages of 400 kB announced, each sent but for its last byte: the server holds what it
      // read of each until its message is whole. The third takes the connection past 1 MiB.
      const size = 400_000;
      const streams = Array.from({ length: 4 }, () => {
        const stream = grpcRequest(session);
        stream.on("error", () => {});
        stream.resume();
        const header = Buffer.alloc(5);
        header.writeUInt32BE(size, 1);
        stream.write(header);
        stream.write(Buffer.alloc(size - 1, 1));
        return stream;
      });
      const resets = await Promise.all(
        streams.map((stream) => Promise.race([new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode ?? -1))), sleep(5000).then(() => -2)])),
      );
      const calmed = resets.filter((code) => code === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM).length;
      assert.ok(calmed >= 1, `stream outcomes (rst codes, -2 still open): ${resets.join(", ")}`);
      assert.ok(resets.includes(-2), `every stream was cut: ${resets.join(", ")}`);
      assert.ok(refusedCount(await metric(t, "tally_http_refused_total"), "connection_buffer") >= 1);
      // The connection still serves a call.
      const health = session.request({ ":method": "GET", ":path": "/healthz" });
      const status = await new Promise<number>((resolve, reject) => {
        health.once("response", (headers) => resolve(Number(headers[":status"])));
        health.once("error", reject);
        health.end();
      });
      assert.equal(status, 200);
    } finally {
      session.destroy();
    }
  });
});

describe("a stream flood against `tally serve` in a process of its own", () => {
  it("leaves it alive, /healthz answering and its memory bounded; what the flood held is let go", { timeout: 300_000 }, async () => {
    const tally = await spawnTally(
      {
        TALLY_JOBS: "off",
        TALLY_HTTP2_MAX_CONCURRENT_STREAMS: "50",
        TALLY_HTTP_MAX_STREAMS: "500",
        TALLY_HTTP_REQUEST_TIMEOUT: "2s",
        ...(process.env.DATABASE_URL ? {} : { TALLY_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "tally-flood-")) }),
      },
      120_000,
    );
    try {
      const figures = await streamFlood(tally.url, { connections: 10, streamsEach: 100, durationMs: 5000 });
      console.log(JSON.stringify(figures));
      assert.ok(figures.healthzAnswers > 0, `no /healthz answer (${figures.healthzFailures} failed)`);
      assert.ok(figures.healthzFailures <= figures.healthzAnswers, `${figures.healthzFailures} /healthz probes failed`);
      // Loose on a shared CI machine; bench:faults measures the real target (p99 under 100 ms).
      assert.ok(figures.healthzP99Ms < 5000, `/healthz p99 ${figures.healthzP99Ms.toFixed(0)} ms`);
      assert.ok(figures.maxStreamsSeen <= 500, `streams open during the flood: ${figures.maxStreamsSeen}`);
      assert.ok(figures.rssGrowthBytes < 200 * 1024 * 1024, `RSS grew ${(figures.rssGrowthBytes / 1048576).toFixed(0)} MB`);
      assert.ok((figures.refused.request_timeout ?? 0) > 0, JSON.stringify(figures));
      assert.equal(await openStreamsAfter(tally.url, 10_000), 0);
      assert.equal((await fetch(`${tally.url}/readyz`)).status, 200);
    } finally {
      await stopTally(tally);
    }
  });
});
