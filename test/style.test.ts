// Cheap style rules, checked as tests.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";

const root = path.join(path.dirname(new URL(import.meta.url).pathname), "..");
const files = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
  );

describe("style", () => {
  it("keeps domain/ pure: no clock, environment, randomness, I/O or imports from outside domain/", () => {
    for (const file of files(path.join(root, "src/domain")).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
      const text = fs.readFileSync(file, "utf8");
      const name = path.relative(root, file);
      assert.doesNotMatch(text, /Date\.now\(|new Date\(\)|process\.env|Math\.random|randomUUID/, `${name} reads the clock, env or randomness`);
      assert.doesNotMatch(text, /from "node:(?!assert)/, `${name} does I/O`);
      assert.doesNotMatch(text, /from "\.\.\//, `${name} imports from outside domain/`);
    }
  });

  it("keeps src/gen equal to a fresh buf generate", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "tally-gen-"));
    const out = path.join(work, "gen");
    try {
      const template = fs.readFileSync(path.join(root, "buf.gen.yaml"), "utf8").replace("out: src/gen", `out: ${out}`);
      fs.writeFileSync(path.join(work, "buf.gen.yaml"), template);
      execFileSync(path.join(root, "node_modules/.bin/buf"), ["generate", "--template", path.join(work, "buf.gen.yaml")], {
        cwd: root,
        env: { ...process.env, PATH: `${path.join(root, "node_modules/.bin")}${path.delimiter}${process.env.PATH}` },
      });
      const fresh = files(out).map((f) => path.relative(out, f)).sort();
      const committed = files(path.join(root, "src/gen")).map((f) => path.relative(path.join(root, "src/gen"), f)).sort();
      assert.deepEqual(committed, fresh);
      for (const file of fresh) {
        assert.equal(fs.readFileSync(path.join(root, "src/gen", file), "utf8"), fs.readFileSync(path.join(out, file), "utf8"), `src/gen/${file} is stale: run npm run generate`);
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
