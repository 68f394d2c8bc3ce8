import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createFreshDatabase } from "../support/database.js";
import { cloneEnv, freePort, freshClone, run, stopGroup, waitForOk } from "../support/fresh-clone.js";

/** npm's EBADENGINE warnings, which npx prints on a Node.js release that `engines` does not admit (the machine's 20). */
function withoutEngineWarnings(stderr: string): string {
  return stderr.replace(/^npm warn EBADENGINE.*\n/gm, "");
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe("production install: npm ci --omit=dev && npm start on a fresh clone", () => {
  it("builds dist/ at install and runs the service, migrate, token and the CLI without dev dependencies", async () => {
    const clone = await freshClone();
    cleanups.push(clone.remove);
    const database = await createFreshDatabase();
    cleanups.push(() => database.drop());
    const port = await freePort();
    const env = cloneEnv({
      PORT: String(port),
      HOST: "127.0.0.1",
      SCAIVAULT_DATA_DIR: database.dataDir,
      ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    });

    // Offline: every package of the lockfile must be in npm's cache, as it is after the checkout's
    // own `npm ci` (CI's first step). ENOTCACHED here means the cache lacks one.
    const install = await run("npm", ["ci", "--omit=dev"], { cwd: clone.dir, env });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stderr).toContain("compiling TypeScript into dist/");
    expect(existsSync(join(clone.dir, "dist/src/main.js"))).toBe(true);
    // The console is built at install too (esbuild and preact are runtime dependencies for that).
    expect(existsSync(join(clone.dir, "dist/ui/app.js"))).toBe(true);
    // (@types/node arrives anyway: the stripe SDK depends on it.)
    for (const devOnly of ["tsx", "vitest", "playwright-core", "fast-check"]) {
      expect(existsSync(join(clone.dir, "node_modules", devOnly)), devOnly).toBe(false);
    }

    const migrate = await run("npm", ["run", "--silent", "migrate"], { cwd: clone.dir, env });
    expect(withoutEngineWarnings(migrate.stderr)).toBe("");
    expect(migrate.stdout).toMatch(/^applied: 0001_initial, /);

    const server = run("npm", ["start"], { cwd: clone.dir, env });
    cleanups.push(() => stopGroup(server.child));
    await waitForOk(`http://127.0.0.1:${port}/readyz`, 300_000);
    expect(server.child.exitCode).toBeNull();

    const token = await run("npm", ["run", "--silent", "token", "--", "--tenant", "prod", "--scope", "admin"], { cwd: clone.dir, env });
    expect(withoutEngineWarnings(token.stderr)).toBe("");
    expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const cli = (args: string[], input = "") =>
      run("npx", ["scaivault", ...args], {
        cwd: clone.dir,
        env: { ...env, SCAIVAULT_URL: `http://127.0.0.1:${port}`, SCAIVAULT_TOKEN: token.stdout.trim(), SCAIVAULT_CONFIG: join(database.dataDir, "cli.json") },
        input,
      });
    const put = await cli(["secrets", "put", "app/db"], '{"password": "from-the-cli"}');
    expect(withoutEngineWarnings(put.stderr)).toBe("");
    expect(put.code).toBe(0);
    const get = await cli(["secrets", "get", "app/db", "--field", "password"]);
    expect(withoutEngineWarnings(get.stderr)).toBe("");
    expect(get.stdout.trim()).toBe("from-the-cli");

    stopGroup(server.child);
    const stopped = await server;
    // A built checkout does not compile again on start.
    expect(stopped.stderr).not.toContain("compiling");
  }, 900_000);
});
