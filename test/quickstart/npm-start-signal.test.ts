import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { createFreshDatabase } from "../support/database.js";
import { cloneEnv, freePort, repoRoot, run, stopGroup, waitForOk } from "../support/fresh-clone.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Whether `port` on 127.0.0.1 can be bound, i.e. nothing listens on it any more. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Whether any process of the process group `pgid` is still alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

describe("npm start and a plain kill", () => {
  it("SIGTERM to the npm process stops the service: the port is free within 5 s and nothing of it is left", async () => {
    const database = await createFreshDatabase();
    cleanups.push(() => database.drop());
    const port = await freePort();
    const env = cloneEnv({
      PORT: String(port),
      HOST: "127.0.0.1",
      SCAIVAULT_DATA_DIR: database.dataDir,
      ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    });
    // Its own process group, so the test can tell whether anything npm started outlives it.
    const server = run("npm", ["start"], { cwd: repoRoot, env });
    cleanups.push(() => stopGroup(server.child));
    await waitForOk(`http://127.0.0.1:${port}/readyz`, 120_000);
    expect(await portIsFree(port)).toBe(false);

    // What an operator does: `kill <pid of npm>`, to npm alone, not to its group.
    process.kill(server.child.pid!, "SIGTERM");
    const deadline = Date.now() + 5_000;
    while (!(await portIsFree(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await portIsFree(port)).toBe(true);

    const stopped = await server;
    expect(stopped.stdout).toContain('"msg":"stopped"');
    while (groupAlive(server.child.pid!) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(groupAlive(server.child.pid!)).toBe(false);
  }, 180_000);
});
