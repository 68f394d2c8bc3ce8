import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relativeDays } from "../../src/cli/commands/provider-rotation.js";
import { startTestVault, type TestVault } from "../support/vault.js";

const bin = fileURLToPath(new URL("../../bin/scaivault.js", import.meta.url));

describe("scaivault rotation: provider rotation commands", () => {
  let tv: TestVault;
  let token: string;
  let dir: string;
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_SCHEDULER_ENABLED: "false" } });
    token = await tv.token({ tenantId: "clirot", scopes: ["admin", "audit:read", "secrets:rotate"] });
    dir = await mkdtemp(join(tmpdir(), "scaivault-rot-"));
  }, 300_000);
  afterAll(async () => {
    await tv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function scaivault(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env = { ...process.env, SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: token, SCAIVAULT_CONFIG: join(dir, "config.json") };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  it("says when, relative to today", () => {
    const now = new Date("2026-02-15T12:00:00Z");
    expect(relativeDays(new Date("2026-01-31T12:00:00Z"), now)).toBe("15 days ago");
    expect(relativeDays(new Date("2026-05-01T12:00:00Z"), now)).toBe("in 75 days");
    expect(relativeDays(new Date("2026-02-16T12:00:00Z"), now)).toBe("in 1 day");
    expect(relativeDays(now, now)).toBe("today");
  });

  it("enables, shows, rotates, lists, pauses, resumes and disables", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/cli/db", { token, body: { data: { password: "p0" } } })).status).toBe(201);
    await writeFile(join(dir, "config.json.in"), JSON.stringify({}));
    const enabled = await scaivault(["rotation", "enable", "cli/db", "--provider", "generated", "--config", `@${join(dir, "config.json.in")}`, "--grace-period", "0s"]);
    expect(enabled.stderr).toBe("");
    expect(enabled.code).toBe(0);
    expect(enabled.stdout).toMatch(/provider\s+generated/);
    expect(enabled.stdout).toMatch(/last rotated\s+never/);

    const rotated = await scaivault(["rotation", "rotate", "cli/db", "--json"]);
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ path: "cli/db", version: 2, previous_version: 1 });
    const shown = await scaivault(["rotation", "show", "cli/db"]);
    expect(shown.stdout).toMatch(/status\s+active/);
    expect(shown.stdout).toMatch(/last rotated\s+\d{4}-\d\d-\d\d \(today\)/);
    expect(shown.stdout).toMatch(/interval\s+none/);
    expect(shown.stdout).toMatch(/scheduled by\s+nothing/);
    // Its own schedule, no policy: --interval, or --schedule with --timezone.
    const every = await scaivault(["rotation", "enable", "cli/db", "--provider", "generated", "--interval", "30d"]);
    expect(every.stderr).toBe("");
    expect(every.stdout).toMatch(/interval\s+30d/);
    expect(every.stdout).toMatch(/scheduled by\s+its own schedule/);
    const cron = await scaivault(["rotation", "enable", "cli/db", "--provider", "generated", "--schedule", "0 3 * * SAT", "--timezone", "Europe/Berlin", "--rotation-window", "2h", "--json"]);
    expect(JSON.parse(cron.stdout)).toMatchObject({ schedule: "0 3 * * SAT", timezone: "Europe/Berlin", rotation_window: "2h", schedule_source: "binding" });
    const bad = await scaivault(["rotation", "enable", "cli/db", "--provider", "generated", "--interval", "30d", "--schedule", "0 3 * * *"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("either interval or schedule");
    const runs = JSON.parse((await scaivault(["rotation", "runs", "cli/db", "--json"])).stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ triggered_by: "manual", new_version: 2 });
    expect(JSON.parse((await scaivault(["rotation", "list", "--status", "failed", "--json"])).stdout)).toEqual([]);
    expect(JSON.parse((await scaivault(["rotation", "list", "--json"])).stdout).map((r: any) => r.path)).toEqual(["cli/db"]);
    expect((await scaivault(["rotation", "pause", "cli/db"])).stdout).toMatch(/status\s+paused/);
    expect((await scaivault(["rotation", "resume", "cli/db"])).stdout).toMatch(/status\s+active/);
    const refused = await scaivault(["rotation", "enable", "cli/db", "--provider", "aws_iam"]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain("iam_user_name");
    expect((await scaivault(["rotation", "disable", "cli/db"])).code).toBe(0);
    expect((await scaivault(["rotation", "show", "cli/db"])).code).toBe(2);
  }, 600_000);

  it("rotation test checks the connection; rotation rotate --emergency needs --reason and says what was revoked", async () => {
    expect((await tv.rest("PUT", "/v1/secrets/cli/incident", { token, body: { data: { password: "p0" } } })).status).toBe(201);
    expect((await scaivault(["rotation", "enable", "cli/incident", "--provider", "generated"])).code).toBe(0);
    const tested = await scaivault(["rotation", "test", "cli/incident"]);
    expect(tested.stderr).toBe("");
    expect(tested.code).toBe(0);
    expect(tested.stdout).toMatch(/reachable\s+ok\s+generated in the vault/);
    expect(JSON.parse((await scaivault(["rotation", "test", "cli/incident", "--json"])).stdout)).toMatchObject({ path: "cli/incident", provider: "generated", ok: true });
    expect((await scaivault(["rotation", "test", "cli/unbound"])).code).toBe(2);

    const noReason = await scaivault(["rotation", "rotate", "cli/incident", "--emergency"]);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain("--emergency needs --reason");
    const emergency = await scaivault(["rotation", "rotate", "cli/incident", "--emergency", "--reason", "pasted in chat", "--grace-period", "0s", "--json"]);
    expect(emergency.stderr).toBe("");
    expect(JSON.parse(emergency.stdout)).toMatchObject({ path: "cli/incident", version: 2, emergency: true });
    const [run] = (await tv.rest("GET", "/v1/rotation/secrets/cli/incident/runs", { token })).body.data;
    expect(run.steps[0].step).toBe("preflight");
  });
});
