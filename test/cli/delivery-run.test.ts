import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { awkwardValues, buildDist, runCliToEnd, startCli, waitFor } from "./delivery-support.js";

const printEnv = (names: string[]) => ["--", process.execPath, "-e", `process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(names)}.map((n) => [n, process.env[n] ?? null]))))`];

describe("scaivault run (without --watch)", () => {
  let tv: TestVault;
  let token: string;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    buildDist();
    tv = await startTestVault();
    token = await tv.token({ tenantId: "run", scopes: ["admin"] });
    dir = await mkdtemp(join(tmpdir(), "scaivault-run-"));
    env = { SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: token };
    const db = Object.fromEntries(awkwardValues.map((v, i) => [`field-${i}`, v]));
    await tv.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { password: "pw-1", "db-host": "db.internal", port: 5432, ...db } } });
    await tv.rest("PUT", "/v1/secrets/app/api", { token, body: { data: { key: "api-key-1", password: "api-password" } } });
  }, 180_000);
  afterAll(async () => {
    await tv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("puts every key of --secret and each --env in the environment, exactly, without the CLI's token", async () => {
    const names = ["PASSWORD", "DB_HOST", "PORT", "API_KEY", ...awkwardValues.map((_, i) => `FIELD_${i}`), "SCAIVAULT_TOKEN"];
    const run = await runCliToEnd(["run", "--secret", "app/db", "--env", "API_KEY=app/api#key", ...printEnv(names)], env);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const seen = JSON.parse(run.stdout);
    expect(seen).toMatchObject({ PASSWORD: "pw-1", DB_HOST: "db.internal", PORT: "5432", API_KEY: "api-key-1", SCAIVAULT_TOKEN: null });
    awkwardValues.forEach((v, i) => expect(seen[`FIELD_${i}`]).toBe(v));
  }, 60_000);

  it("lets a later flag win, and refuses two --secret paths that set one variable, naming both, before starting anything", async () => {
    const later = await runCliToEnd(["run", "--secret", "app/db", "--env", "PASSWORD=app/api#key", ...printEnv(["PASSWORD"])], env);
    expect(JSON.parse(later.stdout)).toEqual({ PASSWORD: "api-key-1" });
    const earlier = await runCliToEnd(["run", "--env", "PASSWORD=app/api#key", "--secret", "app/db", ...printEnv(["PASSWORD"])], env);
    expect(JSON.parse(earlier.stdout)).toEqual({ PASSWORD: "pw-1" });

    const marker = join(dir, "started");
    const clash = await runCliToEnd(["run", "--secret", "app/db", "--secret", "app/api", "--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "x")`], env);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain("--secret app/db and --secret app/api both set PASSWORD");
    expect(clash.stderr).not.toContain("pw-1");
    expect(clash.stderr).not.toContain("api-password");
    expect(existsSync(marker)).toBe(false); // never started
  }, 60_000);

  it("exits with the command's code, 128 + N for a signal, 127 for a missing command, 2 for a missing secret", async () => {
    expect((await runCliToEnd(["run", "--secret", "app/db", "--", process.execPath, "-e", "process.exit(7)"], env)).code).toBe(7);
    expect((await runCliToEnd(["run", "--secret", "app/db", "--", process.execPath, "-e", "process.kill(process.pid, 'SIGKILL')"], env)).code).toBe(137);
    const missingCommand = await runCliToEnd(["run", "--secret", "app/db", "--", "/nonexistent/command"], env);
    expect(missingCommand.code).toBe(127);
    const missingSecret = await runCliToEnd(["run", "--secret", "app/nope", "--", process.execPath, "-e", ""], env);
    expect(missingSecret.code).toBe(2);
    expect(missingSecret.stderr).toContain("not_found");
    const missingKey = await runCliToEnd(["run", "--env", "X=app/db#nokey", "--", process.execPath, "-e", ""], env);
    expect(missingKey.code).toBe(1);
    expect(missingKey.stderr).toContain(`the secret app/db has no key "nokey"`);
    expect((await runCliToEnd(["run", "--secret", "app/db"], env)).code).toBe(1);
  }, 60_000);

  it("passes standard input through and forwards signals to the command", async () => {
    const echo = await runCliToEnd(["run", "--secret", "app/db", "--", process.execPath, "-e", "process.stdin.pipe(process.stdout)"], env, "from stdin\n");
    expect(echo.stdout).toBe("from stdin\n");

    const ready = join(dir, "ready");
    const script = `process.on("SIGTERM", () => { process.stdout.write("got SIGTERM"); process.exit(42); }); process.on("SIGHUP", () => process.stdout.write("got SIGHUP;")); require("fs").writeFileSync(${JSON.stringify(ready)}, ""); setInterval(() => {}, 1000);`;
    const cli = startCli(["run", "--secret", "app/db", "--", process.execPath, "-e", script], env);
    await waitFor("the command to start", () => existsSync(ready));
    cli.child.kill("SIGHUP");
    await waitFor("SIGHUP to arrive", () => cli.stdout().includes("got SIGHUP;"));
    cli.child.kill("SIGTERM");
    expect(await cli.exited).toBe(42);
    expect(cli.stdout()).toBe("got SIGHUP;got SIGTERM");
  }, 60_000);

  it("reads the token from --token-file", async () => {
    const file = join(dir, "token");
    await writeFile(file, token + "\n", { mode: 0o600 });
    const run = await runCliToEnd(["run", "--token-file", file, "--secret", "app/api", ...printEnv(["KEY"])], { SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: "not-a-token" });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({ KEY: "api-key-1" });
    const missing = await runCliToEnd(["run", "--token-file", join(dir, "absent"), "--secret", "app/api", ...printEnv(["KEY"])], { SCAIVAULT_URL: tv.baseUrl });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("cannot read the token file");
  }, 60_000);
});
