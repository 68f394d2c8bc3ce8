import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository this test suite belongs to. */
export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * A fresh `git clone` of this repository holding the working tree as it is on disk (tracked and
 * new files, .gitignore respected): the tree is written as a commit object through a temporary
 * index, so the checkout's index, branch and files stay untouched.
 */
export async function freshClone(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "scaivault-clone-"));
  const git = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot) =>
    execFileSync("git", args, { cwd, env: { ...process.env, ...env }, encoding: "utf8" }).trim();
  const index = { GIT_INDEX_FILE: join(dir, "snapshot-index") };
  git(["read-tree", "HEAD"], index);
  git(["add", "-A"], index);
  const tree = git(["write-tree"], index);
  const commit = git(["commit-tree", tree, "-p", "HEAD", "-m", "working tree snapshot for a test"], {
    GIT_AUTHOR_NAME: "test",
    GIT_AUTHOR_EMAIL: "test@localhost",
    GIT_COMMITTER_NAME: "test",
    GIT_COMMITTER_EMAIL: "test@localhost",
  });
  const checkout = join(dir, "scaivault");
  git(["clone", "--quiet", "--no-checkout", repoRoot, checkout]);
  git(["checkout", "--quiet", commit], {}, checkout);
  return { dir: checkout, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Environment for commands in a clone: npm installs from the local cache only (no network), no settings leak in. */
// npm_config_package is what `npm exec --package=node@X` (CI's other Node.js releases) sets: left in
// place, every `npx` inside the clone would look for its command in that package.
export function cloneEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: "true", npm_config_audit: "false", npm_config_fund: "false", ...extra };
  for (const name of Object.keys(env)) {
    if ((name.startsWith("SCAIVAULT_") || name === "DATABASE_URL" || name === "PORT" || name === "HOST" || name.startsWith("npm_lifecycle") || name === "npm_package_json" || name === "npm_config_package") && !(name in extra)) delete env[name];
  }
  return env;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in its own process group (so `stopGroup` also ends what it left in the background). */
export function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: string }): Promise<Run> & { child: ChildProcess } {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  const done = new Promise<Run>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  child.stdin!.end(options.input ?? "");
  return Object.assign(done, { child });
}

/** Ends a process group started by `run`, including its background jobs. */
export function stopGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, "SIGTERM");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Waits until `url` answers 200, or fails after `timeoutMs`. */
export async function waitForOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
