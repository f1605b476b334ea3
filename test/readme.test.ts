// Every command the README shows is run, or marked as not runnable with the reason.
//
// The convention (also stated in the README, under Development; other changes add blocks freely as
// long as they follow it, since this test finds blocks itself and knows nothing of the README's content):
// - ```sh (or bash) blocks run in bash -e -o pipefail, in README order, each in a fresh empty directory,
//   against one Tally started here (`tally serve`, TALLY_AUTH=off as after `npm start`, on a database
//   of its own: PGlite, or PostgreSQL when DATABASE_URL is set): `localhost:9001` / `127.0.0.1:9001` in the block are replaced by that server's address,
//   `tally` is on the PATH (bin/tally.mjs) and TALLY_SERVER points at the server. Exit 0 or fail.
// - ```js / ```ts blocks run with node (ts through tsx) as a module in the checkout's root, where
//   proto/ and the dev dependencies resolve; the same address replacement. Exit 0 or fail.
// - A block preceded by `<!-- readme-test: skip (reason) -->` (blank lines between allowed) is not
//   run; the reason is required.
// - Blocks that are not commands carry a non-command language (text, json, jsonl, yaml, csv, sql, ...);
//   a block without a language, or with one this test does not know, fails (so a command cannot
//   slip by unrun).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { spawnTally, stopTally, tallyBin, type TallyProcess } from "./support/tally-process.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

const shellLanguages = new Set(["sh", "bash", "shell"]);
const scriptLanguages = new Set(["js", "mjs", "javascript", "ts", "typescript"]);
const notCommands = new Set(["text", "txt", "json", "jsonl", "yaml", "yml", "csv", "sql", "toml", "ini", "proto", "protobuf", "diff", "http", "dockerfile", "html", "css"]);
const skipMarker = /^<!--\s*readme-test:\s*skip\s*\((.+)\)\s*-->$/;

export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  language: string;
  code: string;
  /** The reason given by a skip marker, if any. */
  skip?: string;
}

/** The fenced code blocks of a Markdown text, with the skip marker before each, if any. */
export function readmeBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split("\n");
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === "") before--;
    const marker = before >= 0 ? skipMarker.exec(lines[before]!.trim()) : null;
    blocks.push({ line: i + 1, language: open[1]!.toLowerCase(), code: lines.slice(i + 1, end).join("\n"), ...(marker ? { skip: marker[1]! } : {}) });
    i = end;
  }
  return blocks;
}

const blocks = readmeBlocks(fs.readFileSync(path.join(root, "README.md"), "utf8"));

describe("the README's code blocks", () => {
  it("each has a language this test knows, and a skip marker only with a reason", () => {
    assert.ok(blocks.length > 0);
    for (const block of blocks) {
      const known = shellLanguages.has(block.language) || scriptLanguages.has(block.language) || notCommands.has(block.language);
      assert.ok(known, `README line ${block.line}: a block with ${block.language ? `language "${block.language}"` : "no language"}; mark it sh/js to run it, or text (json, ...) if it is not a command`);
    }
    const source = fs.readFileSync(path.join(root, "README.md"), "utf8");
    for (const line of source.split("\n")) {
      if (line.trim().startsWith("<!--") && line.includes("readme-test:")) assert.match(line.trim(), skipMarker, `malformed marker: ${line}`);
    }
  });

  describe("run against a Tally started for them", { timeout: 900_000 }, () => {
    let tally: TallyProcess;
    let database: TestDatabase;
    let work: string;
    let binDir: string;
    let address: string;

    before(async () => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), "tally-readme-"));
      binDir = path.join(work, "bin");
      fs.mkdirSync(binDir);
      fs.writeFileSync(path.join(binDir, "tally"), `#!/bin/sh\nexec "${process.execPath}" "${tallyBin}" "$@"\n`, { mode: 0o755 });
      // Its own database: PGlite, or one of its own on the PostgreSQL of DATABASE_URL.
      database = await createTestDatabase();
      const env: Record<string, string> = {
        TALLY_AUTH: "off",
        ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { TALLY_DATA_DIR: database.dataDir }),
      };
      tally = await spawnTally(env, 300_000);
      address = new URL(tally.url).host;
    });

    after(async () => {
      if (tally) await stopTally(tally);
      await database?.drop();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    const pointed = (code: string) => code.replaceAll("localhost:9001", address).replaceAll("127.0.0.1:9001", address);

    for (const block of blocks) {
      const title = `line ${block.line} (${block.language}): ${block.code.split("\n")[0]!.slice(0, 70)}`;
      if (block.skip !== undefined) {
        it(title, { skip: `marked not runnable: ${block.skip}` }, () => {});
        continue;
      }
      if (shellLanguages.has(block.language)) {
        it(title, async () => {
          const cwd = fs.mkdtempSync(path.join(work, "sh-"));
          const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, TALLY_SERVER: tally.url, TALLY_AUTH: "off" };
          delete env.NODE_TEST_CONTEXT;
          delete env.TALLY_TOKEN;
          let stdout: string;
          try {
            ({ stdout } = await run("bash", ["-e", "-o", "pipefail", "-c", pointed(block.code)], { cwd, env, timeout: 180_000, maxBuffer: 16 << 20 }));
          } catch (error) {
            const e = error as { code?: number; stdout?: string; stderr?: string };
            assert.fail(`README line ${block.line} exited ${e.code}:\n${block.code}\n--- stdout\n${e.stdout}\n--- stderr\n${e.stderr}`);
          }
          // `curl -s` exits 0 whatever the answer: a Connect error body means the example is wrong.
          const refused = /\{"code":"[a-z_]+","message":"[^"]*"/.exec(stdout);
          assert.equal(refused, null, `README line ${block.line}: the server refused it: ${refused?.[0]}\n${block.code}`);
        });
      } else if (scriptLanguages.has(block.language)) {
        it(title, async () => {
          const typescript = block.language === "ts" || block.language === "typescript";
          const file = path.join(root, "test-artifacts", `readme-line-${block.line}.${typescript ? "ts" : "mjs"}`);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, pointed(block.code));
          const env: NodeJS.ProcessEnv = { ...process.env };
          delete env.NODE_TEST_CONTEXT;
          try {
            await run(process.execPath, [...(typescript ? ["--import", "tsx"] : []), file], { cwd: root, env, timeout: 120_000 });
          } catch (error) {
            const e = error as { code?: number; stdout?: string; stderr?: string };
            assert.fail(`README line ${block.line} exited ${e.code}:\n${block.code}\n--- stdout\n${e.stdout}\n--- stderr\n${e.stderr}`);
          } finally {
            fs.rmSync(file, { force: true });
          }
        });
      }
    }
  });
});
