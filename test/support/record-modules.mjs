// `node --import ./test/support/record-modules.mjs program.js`: appends the URL of every module the
// program loads (ES modules, and CommonJS modules an ES module imports) to the file named by
// TALLY_RECORD_MODULES, one per line. Used by test/cli-start.test.ts to see what `tally --help` loads.
// The hook runs on Node's loader thread and writes synchronously, so no load is missed at exit.
import { register } from "node:module";

const file = process.env.TALLY_RECORD_MODULES;
if (file) register("./record-modules-hooks.mjs", import.meta.url, { data: { file } });
