// `npm run bench:faults`: every fault benchmark (bench/faults-*.ts), one after the other, each in its
// own process; the run fails if one does. Arguments are passed on to each.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const dir = import.meta.dirname;
const files = fs.readdirSync(dir).filter((name) => /^faults-.+\.ts$/.test(name)).sort();
let failed = 0;
for (const file of files) {
  console.log(`== ${file}`);
  const run = spawnSync(process.execPath, ["--import", "tsx", path.join(dir, file), ...process.argv.slice(2)], { stdio: "inherit" });
  if (run.status !== 0) failed += 1;
}
if (failed > 0) process.exitCode = 1;
