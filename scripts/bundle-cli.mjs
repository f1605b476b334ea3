// Part of `npm run build`, after tsc: replaces <dist>/cli/ (one file per module) with a bundle of it,
// so that `tally --help` reads and links 2 modules instead of about 30 (Node 20's ES module loader
// costs 1-2 ms per module on a small machine; measured by bench/cli-start.ts).
//
//   node scripts/bundle-cli.mjs [dist]     (default: dist)
//
// The boundary keeps every module once per process, so `instanceof` keeps working across it:
// - bundled: the modules of cli/ (the entry tally.js, the command definitions, and, split into chunks
//   loaded on demand, what the commands load in their actions) and commander;
// - left as they are, imported from the bundle by their relative path (the bundle's files stay in
//   <dist>/cli/, so the paths still hold): every other module of dist/ (the server, store, config,
//   errors...) and every other package. Nothing outside cli/ imports cli/ or commander, so none of
//   them can load a second copy of a bundled module; this script fails if that ever changes.
import fs from "node:fs";
import path from "node:path";
import * as esbuild from "esbuild";

const dist = path.resolve(process.argv[2] ?? "dist");
const cliDir = path.join(dist, "cli");
const outDir = path.join(dist, "cli.bundle");
const bundledPackages = new Set(["commander"]);

/** Outside <dist>/cli/: its compiled file, imported by the same relative path. */
const boundary = {
  name: "tally-cli-boundary",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      if (args.path.startsWith(".")) {
        if (!args.importer.startsWith(cliDir + path.sep)) return undefined; // inside commander
        const target = path.resolve(args.resolveDir, args.path);
        return target.startsWith(cliDir + path.sep) ? undefined : { path: args.path, external: true };
      }
      if (args.path.startsWith("node:")) return { path: args.path, external: true };
      const name = args.path.startsWith("@") ? args.path.split("/").slice(0, 2).join("/") : args.path.split("/")[0];
      return bundledPackages.has(name) ? undefined : { path: args.path, external: true };
    });
  },
};

/** A module outside cli/ that imports cli/ or commander would load a second copy of it. */
function assertNothingImportsTheBundle() {
  const offenders = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (file !== cliDir && file !== outDir) walk(file);
      } else if (entry.name.endsWith(".js")) {
        const text = fs.readFileSync(file, "utf8");
        if (/from\s+["'](\.\.?\/)+cli\/|import\(\s*["'](\.\.?\/)+cli\/|from\s+["']commander["']/.test(text)) offenders.push(path.relative(dist, file));
      }
    }
  };
  walk(dist);
  if (offenders.length > 0) throw new Error(`bundle-cli: these modules import cli/ or commander, which the bundle holds: ${offenders.join(", ")}`);
}

assertNothingImportsTheBundle();
fs.rmSync(outDir, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: [path.join(cliDir, "tally.js")],
  outdir: outDir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "[name]-[hash]",
  // commander is CommonJS: its require() of Node's modules needs a require in an ES module.
  banner: { js: 'import { createRequire as tallyCreateRequire } from "node:module";\nconst require = tallyCreateRequire(import.meta.url);' },
  plugins: [boundary],
  logLevel: "warning",
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs);
const stray = inputs.filter((input) => !path.resolve(input).startsWith(cliDir + path.sep) && !/node_modules\/commander\//.test(input));
if (stray.length > 0) throw new Error(`bundle-cli: bundled modules outside cli/ and commander: ${stray.join(", ")}`);
fs.rmSync(cliDir, { recursive: true, force: true });
fs.renameSync(outDir, cliDir);
const files = fs.readdirSync(cliDir).length;
console.log(`bundle-cli: ${inputs.length} modules into ${path.relative(process.cwd(), cliDir)}/ (${files} files)`);
