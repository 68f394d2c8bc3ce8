import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listEvents } from "../../src/events/outbox-store.js";
import { startTestVault, type TestVault } from "../support/vault.js";

const bin = fileURLToPath(new URL("../../bin/scaivault.js", import.meta.url));

describe("scaivault secrets watch and scaivault channels", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } });
    token = await tv.token({ tenantId: "cliw", scopes: ["admin"] });
  }, 180_000);
  afterAll(() => tv?.close(), 60_000);

  function scaivault(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { ...process.env, SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: token, SCAIVAULT_CONFIG: "/nonexistent/scaivault.json" };
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

  it("watch --cursor replays what came after the event and stops after --count changes", async () => {
    for (let v = 1; v <= 3; v++) expect((await tv.rest("PUT", "/v1/secrets/app/db", { token, body: { data: { password: `secret-${v}` } } })).status).toBe(v === 1 ? 201 : 200);
    await tv.rest("PUT", "/v1/secrets/other/x", { token, body: { data: { password: "x" } } });
    const [first] = await listEvents(tv.vault.db, "cliw");
    const run = await scaivault(["secrets", "watch", "--prefix", "app/", "--cursor", first!.id, "--count", "2", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.event_type, l.path, l.version, l.stage])).toEqual([
      ["secret.updated", "app/db", 2, "current"],
      ["secret.updated", "app/db", 3, "current"],
    ]);
    expect(run.stdout).not.toContain("secret-");
  }, 60_000);

  it("creates, lists and shows channels; the Slack URL is read from standard input and never printed", async () => {
    const slackUrl = "http://127.0.0.1:9/services/T/B/secret-part";
    const created = await scaivault(["channels", "create", "ops", "--type", "slack", "--webhook-url-file", "-", "--event", "rotation.failed", "--json"], slackUrl + "\n");
    expect(created.stderr).toBe("");
    expect(JSON.parse(created.stdout)).toMatchObject({ id: "nc_ops", type: "slack", config: { has_webhook_url: true }, events: ["rotation.failed"] });
    expect(created.stdout).not.toContain("secret-part");
    const mail = await scaivault(["channels", "create", "mail", "--type", "email", "--to", "a@example.test"]);
    expect(mail.code).toBe(5); // no SMTP server configured: invalid_request
    expect(mail.stderr).toContain("SCAIVAULT_SMTP_URL");
    const list = await scaivault(["channels", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("nc_ops");
    const missing = await scaivault(["channels", "show", "nc_nope"]);
    expect(missing.code).toBe(2);
  }, 60_000);
});
