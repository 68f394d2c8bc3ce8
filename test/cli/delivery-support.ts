// Shared by the `scaivault run` and `scaivault agent` tests: the real binary as a child process.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export const bin = fileURLToPath(new URL("../../bin/scaivault.js", import.meta.url));

/** Brings dist/ (what the binary runs) up to date with the sources under test. */
export function buildDist(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/build-dist.mjs", import.meta.url)), "--if-stale"], { stdio: "inherit" });
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code, or the signal's name. */
  exited: Promise<number | string | null>;
}

/** Starts `scaivault ARGS` with `env` on top of a clean environment (no saved login). */
export function startCli(args: string[], env: Record<string, string>, input = ""): CliProcess {
  const full: NodeJS.ProcessEnv = { ...process.env, SCAIVAULT_CONFIG: "/nonexistent/scaivault.json", ...env };
  for (const name of ["SCAIVAULT_URL", "SCAIVAULT_TOKEN", "SCAIVAULT_PROTOCOL"]) if (!env[name]) delete full[name];
  const child = spawn(process.execPath, [bin, ...args], { env: full, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdin!.end(input);
  const exited = new Promise<number | string | null>((resolve) => child.once("close", (code, signal) => resolve(signal ?? code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs `scaivault ARGS` to the end. */
export async function runCliToEnd(args: string[], env: Record<string, string>, input = ""): Promise<{ code: number | string | null; stdout: string; stderr: string }> {
  const cli = startCli(args, env, input);
  const code = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Polls `probe` every 20 ms until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The JSON lines of a file (none when it does not exist yet). */
export async function jsonLines<T = Record<string, unknown>>(path: string): Promise<T[]> {
  try {
    return (await readFile(path, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as T);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Values that break naive quoting: quotes, `$`, `=`, backslashes, newlines, a shell command. */
export const awkwardValues = [`it's "quoted"`, "$HOME and ${PATH} and $(touch /tmp/pwned) `id`", "a=b=c", "line one\nline two\n", "back\\slash\\n", "#not a comment", " spaced "];
