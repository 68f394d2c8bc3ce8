// What the bench scripts share: how the service is started (flags, Node.js release), free ports,
// readiness, CPU accounting from /proc, and h2load's gRPC framing.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** This checkout. */
export const root = fileURLToPath(new URL("..", import.meta.url));

/** The node flags `npm start` runs the service with (package.json), so the bench measures the service as it is started. */
export function startFlags(checkout = root): string[] {
  const start: string = JSON.parse(readFileSync(join(checkout, "package.json"), "utf8")).scripts.start;
  const flags = /node ((?:--\S+ )*)dist\/src\/main\.js/.exec(start);
  if (!flags) throw new Error(`package.json's start script no longer runs dist/src/main.js: ${start}`);
  return flags[1]!.split(" ").filter(Boolean);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The Node.js the service and the floor servers run on: this node when package.json's engines
 * admit it, else the newest release CI tests (.ci/node-releases); BENCH_SERVICE_NODE names another
 * release (from the npm registry's `node` package). A service is measured on a
 * release it supports; the floor runs on the same one so the ratios compare like with like.
 */
export function serverNode(): { node: string; version: string } {
  const asked = process.env.BENCH_SERVICE_NODE;
  if (asked) {
    const node = nodeBinaryOf(asked);
    return { node, version: execFileSync(node, ["--version"], { encoding: "utf8" }).trim() };
  }
  const range: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).engines.node;
  const min = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (!min) throw new Error(`bench reads engines.node as ">=x.y.z", found ${range}`);
  const [major, minor, patch] = process.versions.node.split(".").map(Number) as [number, number, number];
  const [wantMajor, wantMinor, wantPatch] = min.slice(1).map(Number) as [number, number, number];
  const admitted = major !== wantMajor ? major > wantMajor : minor !== wantMinor ? minor > wantMinor : patch >= wantPatch;
  if (admitted) return { node: process.execPath, version: process.version };
  const node = nodeBinaryOf(testedNodeReleases().at(-1)!);
  return { node, version: execFileSync(node, ["--version"], { encoding: "utf8" }).trim() };
}

export async function waitReady(url: string) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

export async function inBatches<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** CPU seconds of each PostgreSQL process now running. */
export async function postgresCpu(): Promise<Map<number, number>> {
  const cpu = new Map<number, number>();
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "");
    if (comm.startsWith("postgres")) cpu.set(Number(entry), await cpuSecondsOf(Number(entry)));
  }
  return cpu;
}

/** The Node.js releases CI runs the suite on besides the machine's own (.ci/node-releases). */
export function testedNodeReleases(): string[] {
  return readFileSync(join(root, ".ci/node-releases"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
}

/** The binary of one Node.js release from the npm registry's `node` package (npm caches it after the first run). */
export function nodeBinaryOf(release: string): string {
  return execFileSync("npm", ["exec", "--yes", `--package=node@${release}`, "--", "node", "-p", "process.execPath"], { cwd: root, encoding: "utf8" }).trim();
}

/** True when nghttp2's h2load is installed (Debian's nghttp2-client). */
export function hasH2load(): boolean {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** One message in gRPC's length-prefixed framing. */
export function grpcFramed(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.byteLength, 1);
  return Buffer.concat([prefix, message]);
}
