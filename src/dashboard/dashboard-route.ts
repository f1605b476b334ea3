// The admin dashboard: the single-page app built into web/dist, served from memory at "/" with
// content types, caching (hashed assets for a year, index.html revalidated by ETag) and gzip or
// brotli. The assets hold no data: every figure comes from the RPCs, which carry their own auth.
import { createHash } from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import zlib from "node:zlib";
import type { Logger } from "../logger.js";
import type { HttpRoute, Request, Response } from "../server.js";

export const dashboardAssetsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "web", "dist");
/** The build is about 230 kB; a directory far larger is not a dashboard build and is not loaded. */
export const dashboardBytesMax = 16 * 1024 * 1024;
/** Bodies smaller than this are sent as they are: compressing them saves less than it costs. */
const compressBytesMin = 1024;

/** Paths the app routes itself: they all answer with index.html. */
const appPathPattern = /^\/(?:index\.html)?$|^\/attributions(?:\/[^/]*)?$|^\/endpoints$/;
/** Vite puts content-hashed files under /assets/: their URL changes whenever their content does. */
const hashedPathPattern = /^\/assets\//;

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};
const compressible = /^(text\/|application\/json|image\/svg)/;

/** The page may talk to this origin only; no inline scripts, no frames. */
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

type Encoding = "br" | "gzip";

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
  readonly cacheControl: string;
  readonly compressible: boolean;
  readonly encoded: Map<Encoding, Promise<Buffer>>;
}

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

export interface DashboardRouteOptions {
  readonly logger: Logger;
  /** Where the build is; default web/dist of this package. */
  readonly assetsDir?: string;
}

export function dashboardRoute(options: DashboardRouteOptions): HttpRoute {
  const dir = options.assetsDir ?? dashboardAssetsDir;
  const assets = loadAssets(dir);
  const index = assets.get("/index.html");
  if (!index) options.logger.warn({ dir }, "the dashboard is not built (no index.html): run npm run build:web");
  return async (request, response) => {
    const urlPath = (request.url ?? "/").split("?")[0]!;
    const isAppPath = appPathPattern.test(urlPath);
    const asset = isAppPath ? index : assets.get(urlPath);
    if (!asset && !isAppPath) return false;
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(response, 405, { "content-type": "text/plain; charset=utf-8", allow: "GET, HEAD" }, "method not allowed");
      return true;
    }
    if (!asset) {
      send(response, 503, { "content-type": "text/plain; charset=utf-8" }, "the dashboard is not built: run npm run build:web");
      return true;
    }
    await serveAsset(request, response, asset);
    return true;
  };
}

async function serveAsset(request: Request, response: Response, asset: Asset): Promise<void> {
  const headers: Record<string, string> = {
    "content-type": asset.contentType,
    "cache-control": asset.cacheControl,
    etag: asset.etag,
    "x-content-type-options": "nosniff",
  };
  if (asset.contentType.startsWith("text/html")) {
    headers["content-security-policy"] = contentSecurityPolicy;
    headers["referrer-policy"] = "no-referrer";
  }
  if (asset.compressible) headers.vary = "accept-encoding";
  if (matchesEtag(request.headers["if-none-match"], asset.etag)) {
    send(response, 304, headers, undefined);
    return;
  }
  let body = asset.body;
  const encoding = asset.compressible ? preferredEncoding(request.headers["accept-encoding"]) : undefined;
  if (encoding) {
    let encoded = asset.encoded.get(encoding);
    if (!encoded) {
      encoded = encoding === "br" ? brotli(asset.body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }) : gzip(asset.body, { level: 9 });
      asset.encoded.set(encoding, encoded);
    }
    body = await encoded;
    headers["content-encoding"] = encoding;
  }
  headers["content-length"] = String(body.length);
  send(response, 200, headers, request.method === "HEAD" ? undefined : body);
}

function send(response: Response, status: number, headers: Record<string, string>, body: Buffer | string | undefined): void {
  const res = response as http.ServerResponse;
  res.writeHead(status, headers);
  res.end(body);
}

function matchesEtag(header: string | string[] | undefined, etag: string): boolean {
  if (typeof header !== "string") return false;
  return header.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed === etag || trimmed === `W/${etag}`;
  });
}

/** brotli over gzip, honouring q=0 ("not acceptable"). */
export function preferredEncoding(header: string | string[] | undefined): Encoding | undefined {
  if (typeof header !== "string") return undefined;
  const accepted = new Set<string>();
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if (q !== undefined && Number(q.slice(2)) === 0) continue;
    if (name) accepted.add(name);
  }
  if (accepted.has("br")) return "br";
  if (accepted.has("gzip")) return "gzip";
  return undefined;
}

/** Reads the whole build into memory: URL path -> asset. Missing directory: no assets. */
export function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!fs.existsSync(dir)) return assets;
  let totalBytes = 0;
  for (const file of listFiles(dir)) {
    const body = fs.readFileSync(file);
    totalBytes += body.length;
    if (totalBytes > dashboardBytesMax) {
      throw new Error(`the dashboard build in ${dir} is larger than ${dashboardBytesMax} bytes; is it the right directory?`);
    }
    const urlPath = "/" + path.relative(dir, file).split(path.sep).join("/");
    const contentType = contentTypes[path.extname(file).toLowerCase()] ?? "application/octet-stream";
    assets.set(urlPath, {
      body,
      contentType,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
      cacheControl: hashedPathPattern.test(urlPath) ? "public, max-age=31536000, immutable" : "no-cache",
      compressible: compressible.test(contentType) && body.length >= compressBytesMin,
      encoded: new Map(),
    });
  }
  return assets;
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(path.join(dir, entry.name)) : entry.isFile() ? [path.join(dir, entry.name)] : []));
}
