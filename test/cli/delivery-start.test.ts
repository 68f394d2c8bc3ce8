import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { buildDist, runCliToEnd, startCli, waitFor, type CliProcess } from "./delivery-support.js";

/** A port nothing listens on (taken and given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The waits the CLI announced between its attempts to reach the service, in order. */
const announcedWaits = (stderr: string) => [...stderr.matchAll(/the service cannot be reached \(unavailable: [^)]*\); trying again in (\d+) ms/g)].map((m) => Number(m[1]));

describe("scaivault run and agent when the service is unreachable at start", () => {
  let tv: TestVault;
  let token: string;
  let dir: string;
  let nowhere: string;
  beforeAll(async () => {
    buildDist();
    tv = await startTestVault();
    token = await tv.token({ tenantId: "start", scopes: ["admin"] });
    dir = await mkdtemp(join(tmpdir(), "scaivault-start-"));
    nowhere = `http://127.0.0.1:${await closedPort()}`;
    const res = await tv.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { password: "pw-start-1" } } });
    expect(res.status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await tv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** Proxies a port that refuses connections until `reach` points it at the service. */
  async function unreachableUntilReached(): Promise<TcpProxy & { reach(): void }> {
    const proxy = await startTcpProxy(Number(new URL(nowhere).port));
    return Object.assign(proxy, { reach: () => proxy.retarget(tv.port) });
  }

  /** Waits until the CLI has announced `count` attempts, each waiting longer than the one before. */
  async function expectBackoff(cli: CliProcess, count: number) {
    const waits = await waitFor(`${count} attempts`, () => {
      const w = announcedWaits(cli.stderr());
      return w.length >= count ? w : undefined;
    });
    expect(waits.slice(0, count)).toEqual([100, 200, 400, 800].slice(0, count));
  }

  it("run: tries again with backoff, starting the command once the service answers; --fail-fast exits 6 without starting it", async () => {
    const marker = join(dir, "run-started");
    const command = ["--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, process.env.PASSWORD)`];
    const proxy = await unreachableUntilReached();
    try {
      const cli = startCli(["run", "--secret", "app/db", ...command], { SCAIVAULT_URL: proxy.url, SCAIVAULT_TOKEN: token });
      await expectBackoff(cli, 3);
      expect(existsSync(marker)).toBe(false);
      proxy.reach();
      expect(await cli.exited, cli.stderr()).toBe(0);
      expect(await readFile(marker, "utf8")).toBe("pw-start-1");
      expect(cli.stderr()).not.toContain("pw-start-1");
    } finally {
      await proxy.close();
    }

    await rm(marker, { force: true });
    const failFast = await runCliToEnd(["run", "--fail-fast", "--secret", "app/db", ...command], { SCAIVAULT_URL: nowhere, SCAIVAULT_TOKEN: token });
    expect(failFast.code).toBe(6);
    expect(failFast.stderr).toContain("unavailable");
    expect(announcedWaits(failFast.stderr)).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  }, 60_000);

  it("agent: tries again with backoff, rendering once the service answers; --fail-fast exits 6 without writing", async () => {
    const destination = join(dir, "agent", "app.env");
    const config = join(dir, "agent.json");
    await writeFile(config, JSON.stringify({ templates: [{ destination, format: "dotenv", secrets: ["app/db"] }] }));
    const proxy = await unreachableUntilReached();
    try {
      const cli = startCli(["agent", "--config", config, "--once"], { SCAIVAULT_URL: proxy.url, SCAIVAULT_TOKEN: token });
      await expectBackoff(cli, 3);
      expect(existsSync(destination)).toBe(false);
      proxy.reach();
      expect(await cli.exited, cli.stderr()).toBe(0);
      expect(await readFile(destination, "utf8")).toBe("PASSWORD='pw-start-1'\n");
    } finally {
      await proxy.close();
    }

    await rm(destination, { force: true });
    const failFast = await runCliToEnd(["agent", "--config", config, "--once", "--fail-fast"], { SCAIVAULT_URL: nowhere, SCAIVAULT_TOKEN: token });
    expect(failFast.code).toBe(6);
    expect(failFast.stderr).toContain("unavailable");
    expect(announcedWaits(failFast.stderr)).toEqual([]);
    expect(existsSync(destination)).toBe(false);
  }, 60_000);
});
