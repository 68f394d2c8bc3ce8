import { chmod, mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createScaiVault } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { silentLogger } from "../../src/log.js";
import { testJwtSecret } from "../support/vault.js";

/** Every file and directory under `dir` with its permission bits. */
async function modesUnder(dir: string): Promise<{ path: string; mode: number; isDir: boolean }[]> {
  const out: { path: string; mode: number; isDir: boolean }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    out.push({ path, mode: (await stat(path)).mode & 0o777, isDir: entry.isDirectory() });
    if (entry.isDirectory()) out.push(...(await modesUnder(path)));
  }
  return out;
}

const embeddedConfig = (dataDir: string) =>
  loadConfig({ PORT: "0", SCAIVAULT_DATA_DIR: dataDir, SCAIVAULT_JWT_SECRET: testJwtSecret, SCAIVAULT_SCHEDULER_ENABLED: "false" });

describe("the embedded data directory is private", () => {
  const roots: string[] = [];
  afterAll(async () => {
    for (const root of roots) await rm(root, { recursive: true, force: true });
  });

  it("creates the directory 0700 and leaves every file 0600 and directory 0700", async () => {
    const root = await mkdtemp(join(tmpdir(), "scaivault-modes-"));
    roots.push(root);
    const dataDir = join(root, "data");
    const vault = await createScaiVault({ config: embeddedConfig(dataDir), logger: silentLogger });
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    const open = await modesUnder(dataDir);
    expect(open.length).toBeGreaterThan(100); // PGlite's cluster, the key file
    expect(open.filter((e) => e.mode !== (e.isDir ? 0o700 : 0o600))).toEqual([]);
    await vault.close();
    const closed = await modesUnder(dataDir);
    expect(closed.filter((e) => e.mode !== (e.isDir ? 0o700 : 0o600))).toEqual([]);
  });

  it("tightens a readable existing directory and refuses one that others can write", async () => {
    const root = await mkdtemp(join(tmpdir(), "scaivault-modes-"));
    roots.push(root);
    const readable = join(root, "readable");
    await mkdir(readable);
    await chmod(readable, 0o755);
    const vault = await createScaiVault({ config: embeddedConfig(readable), logger: silentLogger });
    await vault.close();
    expect((await stat(readable)).mode & 0o777).toBe(0o700);

    const open = join(root, "open");
    await mkdir(open);
    await chmod(open, 0o777);
    await expect(createScaiVault({ config: embeddedConfig(open), logger: silentLogger })).rejects.toThrow(/writable by other users.*chmod 700/);
    expect(await readdir(open)).toEqual([]);
  });
});
