// Where the browser tests find Chromium, and what they do when there is none.
//
// The browser tests drive Debian's chromium through playwright-core (which downloads no browser of
// its own). On a developer's machine without it they skip, with one line naming the install
// command; under CI (CI set and not "false"/"0") a missing browser is a failure, never a skip, so
// a CI run cannot go green without having run them. `CHROMIUM_PATH` overrides the path (the
// missing-browser test uses it to simulate a machine without Chromium).
import fs from "node:fs";

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
