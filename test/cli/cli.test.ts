import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type CommandSpec, type GroupSpec } from "../../src/cli/cli.js";
import { commands } from "../../src/cli/commands/index.js";
import { startTestVault, testJwtSecret, type TestVault } from "../support/vault.js";

const bin = fileURLToPath(new URL("../../bin/scaivault.js", import.meta.url));

let tv: TestVault;
let home: string;
let configFile: string;
beforeAll(async () => {
  // The binary runs the CLI compiled into dist/: bring it up to date with the sources under test.
  execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/build-dist.mjs", import.meta.url)), "--if-stale"], { stdio: "inherit" });
  tv = await startTestVault();
  home = await mkdtemp(join(tmpdir(), "scaivault-cli-"));
  configFile = join(home, "nested", "config.json");
});
afterAll(async () => {
  await tv?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `scaivault` binary with its settings in the test's directory. */
function scaivault(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, SCAIVAULT_CONFIG: configFile, ...options.env };
  for (const name of ["SCAIVAULT_URL", "SCAIVAULT_TOKEN", "SCAIVAULT_PROTOCOL"]) if (!options.env?.[name]) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

describe("scaivault CLI against a live server", () => {
  it("mints a token, logs in and saves the settings readable by the owner only", async () => {
    const token = await scaivault(["token", "--tenant", "cli", "--scope", "admin audit:read secrets:rotate"], { env: { SCAIVAULT_JWT_SECRET: testJwtSecret } });
    expect(token.code).toBe(0);
    expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const refused = await scaivault(["login", "--url", tv.baseUrl], { input: "not-a-token\n" });
    expect(refused.code).toBe(3);

    const login = await scaivault(["login", "--url", tv.baseUrl], { input: token.stdout });
    expect(login.stderr).toBe("");
    expect(login.code).toBe(0);
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
  });

  it("puts from standard input, gets, lists and rotates", async () => {
    const put = await scaivault(["secrets", "put", "app/db", "--tag", "db"], { input: JSON.stringify({ user: "app", password: "one" }) });
    expect([put.code, put.stdout.trim()]).toEqual([0, "created app/db version 1"]);
    const update = await scaivault(["secrets", "put", "app/db", "--key", "password"], { input: "two\n" });
    expect([update.code, update.stdout.trim()]).toEqual([0, "updated app/db version 2 (was 1)"]);

    const field = await scaivault(["secrets", "get", "app/db", "--field", "password"]);
    expect([field.code, field.stdout]).toEqual([0, "two\n"]);
    const table = await scaivault(["secrets", "get", "app/db"]);
    expect(table.stdout).toMatch(/^password\s+two$/m);

    const json = await scaivault(["secrets", "get", "app/db", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ path: "app/db", version: 2, secret_type: "kv", data: { password: "two" } });

    await scaivault(["secrets", "put", "app/cache"], { input: '{"url": "redis://cache"}' });
    const list = await scaivault(["secrets", "list", "--prefix", "app/", "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).map((r: { path: string }) => r.path).sort()).toEqual(["app/cache", "app/db"]);
    const listTable = await scaivault(["secrets", "list", "--tag", "db"]);
    expect(listTable.stdout.split("\n")[0]).toMatch(/^PATH\s+VERSION\s+SECRET_TYPE/);
    expect(listTable.stdout).toContain("app/db");
    expect(listTable.stdout).not.toContain("app/cache");

    const rotate = await scaivault(["secrets", "rotate", "app/db", "--file", "-", "--reason", "cli test", "--json"], { input: '{"password": "three"}' });
    expect(rotate.code).toBe(0);
    expect(JSON.parse(rotate.stdout)).toMatchObject({ path: "app/db", version: 3, previous_version: 2 });
    const versions = await scaivault(["secrets", "versions", "app/db", "--json", "--protocol", "grpc"]);
    expect(JSON.parse(versions.stdout).map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
    const meta = await scaivault(["secrets", "meta", "app/db", "--protocol", "grpc-web"]);
    expect(meta.stdout).toMatch(/^current_version\s+3$/m);
  });

  it("exits non-zero with the contract's code on errors", async () => {
    const missing = await scaivault(["secrets", "get", "no/such"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("secret_not_found");
    const missingJson = await scaivault(["secrets", "get", "no/such", "--json"]);
    expect(missingJson.code).toBe(2);
    expect(JSON.parse(missingJson.stderr).error.code).toBe("secret_not_found");

    const conflict = await scaivault(["secrets", "put", "app/db", "--cas", "1"], { input: '{"a": "b"}' });
    expect([conflict.code, conflict.stderr]).toEqual([4, expect.stringContaining("version_conflict")]);
    const invalid = await scaivault(["secrets", "get", "bad//path"]);
    expect(invalid.code).toBe(5);
    const noValue = await scaivault(["secrets", "put", "app/empty"]);
    expect([noValue.code, noValue.stderr]).toEqual([1, expect.stringContaining("no value on standard input")]);
    const usage = await scaivault(["secrets", "fetch"]);
    expect([usage.code, usage.stderr]).toEqual([1, expect.stringContaining('unknown command "secrets fetch"')]);
    const badToken = await scaivault(["secrets", "list"], { env: { SCAIVAULT_TOKEN: "expired" } });
    expect([badToken.code, badToken.stderr]).toEqual([3, expect.stringContaining("unauthenticated")]);
  });

  it("manages rotation policies, secret policies and webhooks", async () => {
    const sp = await scaivault(["secret-policies", "create", "cli-pw", "--length", "20", "--require-digits", "--json"]);
    expect(JSON.parse(sp.stdout)).toMatchObject({ id: "sp_cli-pw", length: 20, require_digits: true });
    const policy = await scaivault(["rotation", "policies", "create", "cli-90d", "--interval", "90d", "--auto-generate", "--secret-policy", "sp_cli-pw", "--json"]);
    expect([policy.code, JSON.parse(policy.stdout).id]).toEqual([0, "rot_cli-90d"]);
    expect((await scaivault(["rotation", "policies", "assign", "rot_cli-90d", "app/cache"])).code).toBe(0);
    const rotated = await scaivault(["rotation", "policies", "rotate", "rot_cli-90d", "--json"]);
    expect(JSON.parse(rotated.stdout)).toEqual([expect.objectContaining({ secret_path: "app/cache", status: "success", new_version: 2 })]);
    const history = await scaivault(["rotation", "policies", "history", "rot_cli-90d", "--json"]);
    expect(JSON.parse(history.stdout)).toHaveLength(1);
    const due = await scaivault(["rotation", "due", "--json"]);
    expect([due.code, JSON.parse(due.stdout)]).toEqual([0, []]);
    const webhooks = await scaivault(["webhooks", "list", "--json"]);
    expect([webhooks.code, JSON.parse(webhooks.stdout)]).toEqual([0, []]);
    expect((await scaivault(["rotation", "policies", "show", "rot_nope"])).code).toBe(2);
  });

  it("creates and updates a scheduled policy with --schedule, --timezone and --window", async () => {
    const created = await scaivault(["rotation", "policies", "create", "cli-sat", "--schedule", "0 3 * * SAT", "--timezone", "Europe/Berlin", "--window", "3h", "--auto-generate", "--json"]);
    expect(created.code).toBe(0);
    const policy = JSON.parse(created.stdout);
    expect(policy).toMatchObject({ id: "rot_cli-sat", schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotation_window: "3h" });
    expect(policy.interval).toBeUndefined();
    expect(policy.next_windows).toHaveLength(3);
    // each opening is a Saturday, 03:00 in Berlin
    for (const opening of policy.next_windows) {
      expect(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", weekday: "short", hour: "2-digit", minute: "2-digit" }).format(new Date(opening))).toBe("Sat 03:00");
    }
    const updated = await scaivault(["rotation", "policies", "update", "rot_cli-sat", "--timezone", "America/New_York", "--json"]);
    expect(JSON.parse(updated.stdout)).toMatchObject({ schedule: "0 3 * * SAT", timezone: "America/New_York" });
    const table = await scaivault(["rotation", "policies", "show", "rot_cli-sat"]);
    expect(table.stdout).toMatch(/schedule\s+0 3 \* \* SAT/);
    expect((await scaivault(["rotation", "policies", "assign", "rot_cli-sat", "app/cache"])).code).toBe(0);
    const due = await scaivault(["rotation", "due", "--within-hours", "200", "--json"]);
    const [row] = JSON.parse(due.stdout);
    expect(row).toMatchObject({ path: "app/cache", policy_id: "rot_cli-sat" });
    expect(new Intl.DateTimeFormat("en-GB", { timeZone: "America/New_York", weekday: "short", hour: "2-digit", minute: "2-digit" }).format(new Date(row.window_opens_at))).toBe("Sat 03:00");
    expect(Date.parse(row.window_closes_at) - Date.parse(row.window_opens_at)).toBe(3 * 3_600_000);
    const bad = await scaivault(["rotation", "policies", "create", "cli-bad", "--schedule", "*/5 * * * *", "--json"]);
    expect(bad.code).toBe(5);
    expect(JSON.parse(bad.stderr).error).toMatchObject({ code: "invalid_request", message: expect.stringContaining("schedule") });
  });

  it("manages the tenant registry with an operator token", async () => {
    const operator = await tv.token({ tenantId: "ops", scopes: ["platform:admin"] });
    const env = { SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: operator };
    const put = await scaivault(["tenants", "put", "cli-tenant", "--partner", "cli-partner", "--name", "CLI", "--json"], { env });
    expect(put.stderr).toBe("");
    expect(JSON.parse(put.stdout)).toMatchObject({ tenant_id: "cli-tenant", partner_id: "cli-partner", display_name: "CLI" });
    const list = await scaivault(["tenants", "list", "--partner", "cli-partner", "--json"], { env });
    expect(JSON.parse(list.stdout).map((t: any) => t.tenant_id)).toEqual(["cli-tenant"]);
    expect((await scaivault(["tenants", "delete", "cli-tenant"], { env })).code).toBe(0);
    expect((await scaivault(["tenants", "show", "cli-tenant"], { env })).code).toBe(2);
  });
});

/** Every command (not group) of the tree, with its words. */
function allCommands(group: GroupSpec, trail: string[] = []): string[][] {
  return group.commands.flatMap((c) => ("commands" in c ? allCommands(c, [...trail, c.name]) : [[...trail, (c as CommandSpec).name]]));
}

describe("scaivault --help", () => {
  async function inProcess(argv: string[]) {
    let stdout = "";
    let stderr = "";
    const stdin = Object.assign(new PassThrough(), { isTTY: false });
    const code = await runCli(commands, argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), stdin, env: {} });
    return { code, stdout, stderr };
  }

  it("is on every command and group, with the exit codes", async () => {
    const list = allCommands(commands);
    expect(list).toEqual(expect.arrayContaining([["secrets", "expiring"], ["rotation", "policies", "history"], ["rotation", "due"], ["webhooks", "test"], ["secret-policies", "update"]]));
    for (const words of list) {
      const help = await inProcess([...words, "--help"]);
      expect([words.join(" "), help.code]).toEqual([words.join(" "), 0]);
      expect(help.stdout).toContain(`Usage: scaivault ${words.join(" ")}`);
      expect(help.stdout).toContain("2  not found");
    }
    for (const group of [[], ["secrets"], ["rotation"], ["rotation", "policies"], ["secret-policies"], ["webhooks"]]) {
      const help = await inProcess([...group, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Commands:");
    }
    const real = await scaivault(["rotation", "policies", "--help"]);
    expect([real.code, real.stdout]).toEqual([0, expect.stringContaining("assign")]);
  });
});
