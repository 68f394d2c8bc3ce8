#!/usr/bin/env node
// Compiles the service, its command-line tools and the CLI into dist/ (plain JavaScript, so
// running them needs neither tsx nor esbuild). `npm ci` runs this once through `prepare`;
// `npm start` and the tools run it with --if-stale, which compiles only when a source file is
// newer than the last build. Type errors are `npm run typecheck`'s job: this build only emits
// (tsconfig.build.json sets noCheck), which needs no @types packages and takes seconds.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const stamp = join(dist, ".built");
const sources = ["src", "gen", "clients/typescript/src", "tsconfig.json", "tsconfig.build.json"];
const say = (line) => process.stderr.write(`scaivault: ${line}\n`);

/** The newest modification time among the files the build reads. */
function newestSource() {
  let newest = 0;
  const visit = (path) => {
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) return;
    if (info.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else newest = Math.max(newest, info.mtimeMs);
  };
  for (const source of sources) visit(join(root, source));
  return newest;
}

const ifStale = process.argv.includes("--if-stale");
const builtAt = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs;
if (ifStale && builtAt !== undefined && newestSource() <= builtAt) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  say("cannot compile dist/: the typescript package is missing (run `npm ci` first)");
  process.exit(1);
}
say(builtAt === undefined ? "compiling TypeScript into dist/ (first build, takes a few seconds)…" : "sources changed since the last build: compiling TypeScript into dist/…");
const started = Date.now();
// Build beside dist/ and swap it in, so a process starting meanwhile never sees half a build.
const next = join(root, `dist.building-${process.pid}`);
rmSync(next, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json"), "--outDir", next], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
if (result.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  say("compiling dist/ failed");
  process.exit(result.status ?? 1);
}
writeFileSync(join(next, ".built"), `${new Date().toISOString()}\n`);
// The web console is built into dist/ui/ by ui/build.mjs, from other sources: keep it.
if (existsSync(join(dist, "ui"))) renameSync(join(dist, "ui"), join(next, "ui"));
if (existsSync(dist)) rmSync(dist, { recursive: true, force: true });
renameSync(next, dist);
say(`dist/ built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
