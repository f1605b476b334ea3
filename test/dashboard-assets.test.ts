// The built dashboard is committed (web/dist) so that `npm ci && npm start` serves it with no build
// step; these tests keep it equal to a fresh build of web/src and its limits equal to the server's.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { listUsageRangeDaysMax } from "../src/domain/usage-query.js";
import { blockReasonLengthMax } from "../src/services/account-service.js";
import { creditNoteCreditsMax, creditNoteDescriptionLengthMax as descriptionLengthMax } from "../src/domain/credit-note.js";
import * as webLimits from "../web/src/limits.js";

const root = path.join(path.dirname(new URL(import.meta.url).pathname), "..");
const files = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(path.join(dir, entry.name)) : [path.join(dir, entry.name)],
  );

describe("the committed dashboard build", () => {
  it("equals a fresh build of web/ (run npm run build:web after changing it)", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "tally-web-"));
    try {
      execFileSync(path.join(root, "node_modules/.bin/vite"), ["build", "web", "--outDir", out, "--emptyOutDir", "--logLevel", "error"], {
        cwd: root,
        stdio: ["ignore", "ignore", "pipe"],
      });
      const committedDir = path.join(root, "web/dist");
      const fresh = files(out).map((f) => path.relative(out, f)).sort();
      const committed = files(committedDir).map((f) => path.relative(committedDir, f)).sort();
      assert.deepEqual(committed, fresh, "web/dist is stale: run npm run build:web and commit web/dist");
      for (const file of fresh) {
        assert.ok(fs.readFileSync(path.join(committedDir, file)).equals(fs.readFileSync(path.join(out, file))), `web/dist/${file} is stale: run npm run build:web`);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it("checks forms against the server's own limits", () => {
    assert.equal(webLimits.creditNoteCreditsMax, creditNoteCreditsMax);
    assert.equal(webLimits.descriptionLengthMax, descriptionLengthMax);
    assert.equal(webLimits.rangeDaysMax, listUsageRangeDaysMax);
    assert.equal(webLimits.blockReasonLengthMax, blockReasonLengthMax);
  });
});
