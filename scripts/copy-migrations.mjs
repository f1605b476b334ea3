// Part of `npm run build`: the compiled server (dist/) applies the same SQL migrations as the source.
import fs from "node:fs";

fs.rmSync("dist/store/migrations", { recursive: true, force: true });
fs.cpSync("src/store/migrations", "dist/store/migrations", { recursive: true });
