#!/usr/bin/env node
// The `tally` executable.
// - In a checkout (src/ is there and tsx is installed): runs the TypeScript sources through tsx's
//   loader, so the command always matches the code (tests use this).
// - In the installed package (no src/): runs the compiled JavaScript of dist/ (`npm run build`),
//   with no TypeScript compiler at run time.
import fs from "node:fs";

const sources = new URL("../src/cli/tally.ts", import.meta.url);
const compiled = new URL("../dist/cli/tally.js", import.meta.url);

async function tsxLoader() {
  try {
    return await import("tsx/esm/api");
  } catch {
    return undefined; // installed without devDependencies: use dist/
  }
}

const tsx = fs.existsSync(sources) && process.env.TALLY_USE_DIST !== "1" ? await tsxLoader() : undefined;
if (tsx) {
  tsx.register();
  await import(sources.href);
} else if (fs.existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write("tally: dist/ is missing: run `npm run build` first (or `npm ci` for the tsx loader)\n");
  process.exitCode = 2;
}
