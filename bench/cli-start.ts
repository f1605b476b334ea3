// How long `tally --help` takes to start: compiled (dist/, what the installed package runs, with cli/
// bundled by scripts/bundle-cli.mjs) against the same build without the bundle (tsc's one file per
// module) and the sources through tsx (bin/tally.mjs in a checkout), with a bare `node -e 0` as the
// baseline of the same run. Prints the median wall time of each, the CPU time per start (user + system of the
// children, from bash's `times`, steadier on a loaded machine) and the ratios. Target: dist < 150 ms.
//
//   npm run bench:cli-start            (builds dist/ first)
//   TALLY_BENCH_RUNS=30 npm run bench:cli-start
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./support.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const runs = Number(process.env.TALLY_BENCH_RUNS ?? 15);
const targetMs = 150;
/** tsc's output without the bundle, inside the checkout so that node_modules resolves. */
const unbundled = path.join(root, ".tally-bench-unbundled");

const variants: { name: string; args: string[]; env?: Record<string, string> }[] = [
  { name: "node -e 0 (baseline)", args: ["-e", "0"] },
  { name: "dist (node dist/cli/tally.js --help)", args: [path.join(root, "dist/cli/tally.js"), "--help"] },
  { name: "dist without the bundle (tsc output)", args: [path.join(unbundled, "dist/cli/tally.js"), "--help"] },
  { name: "installed bin (bin/tally.mjs → dist)", args: [path.join(root, "bin/tally.mjs"), "--help"], env: { TALLY_USE_DIST: "1" } },
  { name: "tsx (bin/tally.mjs in a checkout)", args: [path.join(root, "bin/tally.mjs"), "--help"] },
];

function wallMs(args: string[], env: Record<string, string> | undefined): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited ${result.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** CPU milliseconds (user + system) per start, over `runs` starts, from bash's `times`. */
function cpuMs(args: string[], env: Record<string, string> | undefined): number {
  const quoted = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const out = execFileSync("bash", ["-c", `for i in $(seq ${runs}); do ${quoted} >/dev/null; done; times`], { env: { ...process.env, ...env }, encoding: "utf8" });
  const children = out.trim().split("\n").at(-1)!; // "0m1.234s 0m0.456s": user, system of the children
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return ((seconds[0]! + seconds[1]!) * 1000) / runs;
}

if (!process.argv.includes("--no-build")) execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
fs.rmSync(unbundled, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", path.join(unbundled, "dist"), "--sourceMap", "false"], { cwd: root });
fs.copyFileSync(path.join(root, "package.json"), path.join(unbundled, "package.json"));
process.on("exit", () => fs.rmSync(unbundled, { recursive: true, force: true }));

// On a loaded machine every start waits for a CPU: compare the ratios to node -e 0 of the same run.
const loadBefore = os.loadavg().map((value) => value.toFixed(2)).join(", ");
const results = variants.map((variant) => {
  wallMs(variant.args, variant.env); // warm the file cache
  const walls = Array.from({ length: runs }, () => wallMs(variant.args, variant.env));
  return { name: variant.name, wall: median(walls), cpu: cpuMs(variant.args, variant.env) };
});

const baseline = results[0]!;
const dist = results[1]!;
const perModule = results[2]!;
const tsx = results[4]!;
const load = () => os.loadavg().map((value) => value.toFixed(2)).join(", ");
console.log(`tally --help start, ${runs} runs each (median wall; CPU per start); load average ${loadBefore} before, ${load()} after, on ${os.cpus().length} CPUs`);
for (const r of results) {
  console.log(`  ${r.name.padEnd(40)} ${r.wall.toFixed(0).padStart(5)} ms wall  ${r.cpu.toFixed(0).padStart(5)} ms CPU  (${(r.wall / baseline.wall).toFixed(1)}x node -e 0)`);
}
console.log(`dist's own start over a bare node: ${(dist.wall - baseline.wall).toFixed(0)} ms wall, ${(dist.cpu - baseline.cpu).toFixed(0)} ms CPU`);
console.log(`dist vs the same build without the bundle: ${(dist.wall / perModule.wall).toFixed(2)}x wall, ${(dist.cpu / perModule.cpu).toFixed(2)}x CPU; over a bare node ${(dist.wall - baseline.wall).toFixed(0)} against ${(perModule.wall - baseline.wall).toFixed(0)} ms wall`);
console.log(`dist vs tsx: ${(dist.wall / tsx.wall).toFixed(2)}x wall, ${(dist.cpu / tsx.cpu).toFixed(2)}x CPU`);
console.log(`target: dist < ${targetMs} ms wall: ${dist.wall < targetMs ? "met" : "NOT met"} (${dist.wall.toFixed(0)} ms)`);
