// The loader hook of record-modules.mjs: one line per loaded module URL.
import fs from "node:fs";

let file;

export function initialize(data) {
  file = data.file;
}

export async function load(url, context, nextLoad) {
  fs.appendFileSync(file, url + "\n");
  return nextLoad(url, context);
}
