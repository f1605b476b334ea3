// Builds the admin dashboard into web/dist (committed: `npm start` serves it with no build step).
// `npm run build:web` rebuilds it; `npm run dev:web` serves it with hot reload, proxying the API
// to a Tally on localhost:9001 (TALLY_URL to change).
import { defineConfig } from "vite";

const api = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TALLY_URL ?? "http://127.0.0.1:9001";

export default defineConfig({
  // Assets are referenced from / so that client-side routes (/attributions/...) load them too.
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // One bundle (about 215 kB, 70 kB gzipped; most of it the protobuf runtime): splitting it
    // would only add round trips to the one page there is.
    chunkSizeWarningLimit: 300,
    reportCompressedSize: false,
  },
  server: {
    proxy: { "^/(usage|grpc)\\.[^/]+/": { target: api } },
  },
});
