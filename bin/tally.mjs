#!/usr/bin/env node
// The `tally` executable: runs the TypeScript CLI through tsx's loader.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/tally.ts");
