// Where the browser tests find Chromium, and what they do when there is none.
//
// The browser tests drive Debian's chromium through playwright-core (which downloads no browser of
// its own). On a developer's machine without it they skip, with one line naming the install
// command; under CI (CI set and not "false"/"0") a missing browser is a failure, never a skip, so
// a CI run cannot go green without having run them. `CHROMIUM_PATH` overrides the path (the
// missing-browser test uses it to simulate a machine without Chromium). Also what the suites share
// once the browser runs: its launch with a fresh profile, polling until a check holds, and the
// no-page-scroll check.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const installCommand = "apt-get install chromium";

export interface BrowserLookup {
  /** The executable to launch. */
  path: string;
  /** Whether it exists. */
  found: boolean;
  /** The reason to skip the browser tests, or false to run them (also when the browser is missing under CI: they then fail). */
  skip: string | false;
}

export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = (env.CI ?? "").trim().toLowerCase();
  return ci !== "" && ci !== "false" && ci !== "0";
}

export function findChromium(env: NodeJS.ProcessEnv = process.env): BrowserLookup {
  const path = env.CHROMIUM_PATH || "/usr/bin/chromium";
  const found = fs.existsSync(path);
  const skip = found || isCi(env) ? false : `no Chromium at ${path}: browser tests skipped; install it with \`${installCommand}\` (or set CHROMIUM_PATH)`;
  return { path, found, skip };
}

/** For a browser suite's before(): under CI, a missing browser fails the run with the same advice. */
export function requireChromium(lookup: BrowserLookup): string {
  if (!lookup.found) {
    throw new Error(`no Chromium at ${lookup.path}, and CI is set so the browser tests may not skip: ${installCommand} (or set CHROMIUM_PATH)`);
  }
  return lookup.path;
}

/** Headless, and nothing in the background that would reach the network or vary between runs. */
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Chromium with a fresh profile (a new folder in the temp dir, named from `profilePrefix`; the suite
 * removes it after) and its first page. The page's console errors and warnings and its uncaught
 * errors are added to `problems`; a failed resource's console line is not (a suite that cares checks
 * the responses, with their URL).
 */
export async function openChromium(options: {
  executablePath: string;
  profilePrefix: string;
  viewport: { width: number; height: number };
  timezoneId?: string;
  timeoutMs: number;
  problems: string[];
}): Promise<{ context: BrowserContext; page: Page; profileDir: string }> {
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), options.profilePrefix));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: options.executablePath,
    headless: true,
    args: chromiumArgs,
    viewport: options.viewport,
    deviceScaleFactor: 1,
    ...(options.timezoneId === undefined ? {} : { timezoneId: options.timezoneId }),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(options.timeoutMs);
  page.on("console", (message) => {
    if (message.text().startsWith("Failed to load resource")) return;
    if (message.type() === "error" || message.type() === "warning") options.problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => options.problems.push(`page error: ${error.message}`));
  return { context, page, profileDir };
}

/** Polls `check` every 50 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Nothing is wider than the screen: wide tables scroll inside their card, not the page. */
export async function assertNoPageScroll(page: Page, timeoutMs: number): Promise<void> {
  await eventually(
    async () => (await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")) === true,
    "a page no wider than the screen",
    timeoutMs,
  );
}
