// Reading the Dockerfile and compose.yaml, and running the image's final stage on the host: its CMD
// in its WORKDIR with its ENV, as `docker run` would, against the packed build (no Docker here).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { root } from "./packed.js";

const run = promisify(execFile);

export interface Stage {
  from: string;
  name?: string;
  /** Instructions in order: [INSTRUCTION, rest of the line], continuations joined. */
  instructions: [string, string][];
}

/** Splits a Dockerfile into stages (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith("\\")) {
      current += line.slice(0, -1) + " ";
      continue;
    }
    current += line;
    if (current.trim()) lines.push(current.trim());
    current = "";
  }
  const stages: Stage[] = [];
  for (const line of lines) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    if (!match) throw new Error(`cannot read Dockerfile line: ${line}`);
    const instruction = match[1]!.toUpperCase();
    const rest = match[2]!;
    if (instruction === "FROM") {
      const [from, , name] = rest.split(/\s+/);
      stages.push({ from: from!, ...(name ? { name } : {}), instructions: [] });
    } else {
      stages.at(-1)!.instructions.push([instruction, rest]);
    }
  }
  return stages;
}

/** ENV key=value pairs (values without spaces, or double-quoted). */
export function parseEnv(rest: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of rest.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = match[2]!;
    env[match[1]!] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return env;
}

export interface ImageStage {
  stages: Stage[];
  final: Stage;
  workdir: string;
  env: Record<string, string>;
  user: string;
  volumes: string[];
  exposed: string[];
  cmd: string[];
  healthcheck: { options: string; cmd: string[] };
  runs: string[];
}

export function dockerfile(): ImageStage {
  const stages = parseDockerfile(fs.readFileSync(path.join(root, "Dockerfile"), "utf8"));
  const final = stages.at(-1)!;
  const all = (name: string) => final.instructions.filter(([instruction]) => instruction === name).map(([, rest]) => rest);
  const last = (name: string) => all(name).at(-1) ?? "";
  const health = last("HEALTHCHECK");
  const cmdAt = health.indexOf("CMD ");
  return {
    stages,
    final,
    workdir: last("WORKDIR"),
    env: Object.assign({}, ...all("ENV").map(parseEnv)) as Record<string, string>,
    user: last("USER"),
    volumes: all("VOLUME").flatMap((rest) => (rest.startsWith("[") ? (JSON.parse(rest) as string[]) : rest.split(/\s+/))),
    exposed: all("EXPOSE").flatMap((rest) => rest.split(/\s+/)),
    cmd: JSON.parse(last("CMD")) as string[],
    healthcheck: { options: health.slice(0, cmdAt).trim(), cmd: JSON.parse(health.slice(cmdAt + 4)) as string[] },
    runs: all("RUN"),
  };
}

export function composeFile(): { services: Record<string, Record<string, unknown>>; volumes?: Record<string, unknown> } {
  return parseYaml(fs.readFileSync(path.join(root, "compose.yaml"), "utf8")) as never;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Container {
  child: ChildProcess;
  env: Record<string, string>;
  exited: Promise<number | string | null>;
  output: () => string;
}

/**
 * `docker run` on the host: the final stage's CMD, with WORKDIR mapped to `workdir` (where the package
 * is installed as the image installs it), the image's ENV plus `runtime` (`docker run -e`), and the
 * image's absolute paths in ENV mapped under `fsRoot`. Nothing of the host's environment but PATH.
 */
export function startFromDockerfile(image: ImageStage, workdir: string, fsRoot: string, runtime: Record<string, string>): Container {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: fsRoot };
  for (const [key, value] of Object.entries(image.env)) {
    env[key] = value.startsWith("/") ? path.join(fsRoot, value) : value;
    if (value.startsWith("/")) fs.mkdirSync(env[key]!, { recursive: true });
  }
  Object.assign(env, runtime);
  const [program, ...args] = image.cmd;
  const child = spawn(program === "node" ? process.execPath : program!, args, { cwd: workdir, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  child.stderr!.on("data", (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const exited = new Promise<number | string | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
  return { child, env, exited, output: () => output };
}

/** Runs the HEALTHCHECK command in the container's environment; true when it exits 0. */
export async function runHealthcheck(image: ImageStage, container: Container, workdir: string): Promise<boolean> {
  const [program, ...args] = image.healthcheck.cmd;
  try {
    await run(program === "node" ? process.execPath : program!, args, { cwd: workdir, env: container.env, timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}
