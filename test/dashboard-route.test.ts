// The dashboard's static files on the server's one port: content types, caching, compression,
// client-side routes, and staying out of the way of everything else on that port.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import zlib from "node:zlib";
import { dashboardAssetsDir, dashboardRoute, preferredEncoding } from "../src/dashboard/dashboard-route.js";
import { silentLogger } from "../src/logger.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on("error", reject);
    request.end();
  });
}

const builtScript = () => {
  const name = fs.readdirSync(path.join(dashboardAssetsDir, "assets")).find((file) => file.endsWith(".js"));
  assert.ok(name, "web/dist/assets holds the built script");
  return { urlPath: `/assets/${name}`, body: fs.readFileSync(path.join(dashboardAssetsDir, "assets", name)) };
};

describe("the dashboard route", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });

  it("serves index.html at / with a strict content security policy, revalidated by ETag", async () => {
    const response = await get(`${t.tally.url}/`);
    assert.equal(response.status, 200);
    assert.equal(response.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(response.headers["cache-control"], "no-cache");
    assert.match(String(response.headers["content-security-policy"]), /default-src 'self'.*frame-ancestors 'none'/);
    assert.equal(response.headers["x-content-type-options"], "nosniff");
    assert.equal(response.body.toString(), fs.readFileSync(path.join(dashboardAssetsDir, "index.html"), "utf8"));
    const etag = response.headers.etag;
    assert.ok(etag);
    const again = await get(`${t.tally.url}/`, { "if-none-match": String(etag) });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
  });

  it("answers the app's own routes with index.html, so links to an attribution id load the app", async () => {
    const index = await get(`${t.tally.url}/`);
    for (const urlPath of ["/index.html", "/attributions/team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717", "/attributions/x?tab=1", "/endpoints"]) {
      const response = await get(`${t.tally.url}${urlPath}`);
      assert.equal(response.status, 200, urlPath);
      assert.deepEqual(response.body, index.body, urlPath);
    }
  });

  it("serves hashed assets with their type, cached for a year, compressed when the client accepts it", async () => {
    const script = builtScript();
    const plain = await get(`${t.tally.url}${script.urlPath}`);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(plain.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(plain.headers["content-encoding"], undefined);
    assert.deepEqual(plain.body, script.body);

    const brotli = await get(`${t.tally.url}${script.urlPath}`, { "accept-encoding": "gzip, deflate, br" });
    assert.equal(brotli.headers["content-encoding"], "br");
    assert.equal(brotli.headers.vary, "accept-encoding");
    assert.ok(brotli.body.length < script.body.length / 2, `brotli ${brotli.body.length} of ${script.body.length} bytes`);
    assert.deepEqual(zlib.brotliDecompressSync(brotli.body), script.body);

    const gzip = await get(`${t.tally.url}${script.urlPath}`, { "accept-encoding": "gzip;q=1, br;q=0" });
    assert.equal(gzip.headers["content-encoding"], "gzip");
    assert.deepEqual(zlib.gunzipSync(gzip.body), script.body);

    const css = fs.readdirSync(path.join(dashboardAssetsDir, "assets")).find((file) => file.endsWith(".css"));
    assert.equal((await get(`${t.tally.url}/assets/${css}`)).headers["content-type"], "text/css; charset=utf-8");
    const icon = await get(`${t.tally.url}/favicon.svg`);
    assert.equal(icon.headers["content-type"], "image/svg+xml");
    assert.equal(icon.headers["cache-control"], "no-cache");
  });

  it("answers HEAD without a body and refuses other methods", async () => {
    const head = await get(`${t.tally.url}/`, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.ok(Number(head.headers["content-length"]) > 0);
    const post = await get(`${t.tally.url}/`, {}, "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });

  it("leaves unknown paths, health probes and RPCs to the rest of the server", async () => {
    for (const urlPath of ["/assets/missing.js", "/nope", "/../package.json", "/assets/../../package.json", "/attributions/a/b", "/endpoints/x"]) {
      const response = await get(`${t.tally.url}${urlPath}`);
      assert.equal(response.status, 404, urlPath);
      assert.match(response.headers["content-type"] ?? "", /application\/json/, urlPath);
    }
    assert.equal((await get(`${t.tally.url}/healthz`)).status, 200);
    const rpc = await fetch(`${t.tally.url}/usage.v1.UsageService/GetBalance`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ attributionId: "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717" }),
    });
    assert.equal(rpc.status, 200);
  });

  it("serves the same over HTTP/2", async () => {
    const client = http2.connect(t.tally.url);
    try {
      const { status, type, length } = await new Promise<{ status: number; type: string; length: number }>((resolve, reject) => {
        const stream = client.request({ ":path": "/", ":method": "GET" });
        let length = 0;
        let status = 0;
        let type = "";
        stream.on("response", (headers) => {
          status = Number(headers[":status"]);
          type = String(headers["content-type"]);
        });
        stream.on("data", (chunk: Buffer) => (length += chunk.length));
        stream.on("end", () => resolve({ status, type, length }));
        stream.on("error", reject);
        stream.end();
      });
      assert.equal(status, 200);
      assert.equal(type, "text/html; charset=utf-8");
      assert.ok(length > 0);
    } finally {
      client.close();
    }
  });
});

describe("the dashboard route without a build", () => {
  it("says how to build it instead of failing obscurely", async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "tally-no-dashboard-"));
    const route = dashboardRoute({ logger: silentLogger, assetsDir: path.join(empty, "dist") });
    const server = http.createServer((request, response) => {
      void Promise.resolve(route(request, response)).then((handled) => {
        if (!handled) response.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const response = await get(`http://127.0.0.1:${port}/`);
      assert.equal(response.status, 503);
      assert.match(response.body.toString(), /npm run build:web/);
      assert.equal((await get(`http://127.0.0.1:${port}/assets/x.js`)).status, 404);
    } finally {
      server.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("content negotiation", () => {
  it("prefers brotli, then gzip, and honours q=0", () => {
    assert.equal(preferredEncoding("gzip, deflate, br"), "br");
    assert.equal(preferredEncoding("gzip"), "gzip");
    assert.equal(preferredEncoding("br;q=0, gzip;q=0.5"), "gzip");
    assert.equal(preferredEncoding("identity"), undefined);
    assert.equal(preferredEncoding(undefined), undefined);
  });
});
