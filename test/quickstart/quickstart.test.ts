import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cloneEnv, freePort, freshClone, repoRoot, run, stopGroup } from "../support/fresh-clone.js";

/** The first bash block under "## First steps on a fresh machine" in README.md, as written. */
async function quickStartBlock(): Promise<string> {
  const readme = await readFile(join(repoRoot, "README.md"), "utf8");
  const section = readme.indexOf("## First steps on a fresh machine");
  expect(section).toBeGreaterThan(0);
  const block = /```bash\n([\s\S]*?)```/.exec(readme.slice(section));
  expect(block).not.toBeNull();
  return block![1]!;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// The quick start uses the embedded database; the PostgreSQL run would only repeat it.
describe.skipIf(Boolean(process.env.DATABASE_URL))("README quick start on a fresh clone", () => {
  it("runs the block as pasted and every curl gets the documented answer", async () => {
    const block = await quickStartBlock();
    expect(block).toContain("localhost:8080");
    const port = await freePort();
    // The only change: the port, so the test does not collide with anything on 8080.
    const script = block.replaceAll("localhost:8080", `localhost:${port}`);

    const clone = await freshClone();
    cleanups.push(clone.remove);
    const shell = run("bash", ["-c", script], { cwd: clone.dir, env: cloneEnv({ PORT: String(port), HOST: "127.0.0.1" }) });
    cleanups.push(() => stopGroup(shell.child));
    const result = await shell;
    expect(result.stderr).not.toMatch(/not found|ERR!/);
    expect(result.code).toBe(0);

    // Each curl prints its answer as one JSON line (-w '\n'); npm ci's output is not JSON.
    const answers = result.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line));
    expect(answers).toHaveLength(5);
    const [put, get, list, meta, webhook] = answers;
    const path = "environments/production/salesforce/api-credentials";
    expect(put).toMatchObject({ path, secret_type: "json", version: 1, created: true });
    expect(get).toMatchObject({ path, version: 1, data: { client_id: "3MVG9...", client_secret: "REDACTED" } });
    expect(list.secrets.map((s: { path: string }) => s.path)).toEqual([path]);
    expect(meta).toMatchObject({ path, current_version: 1, max_versions: 10, metadata: { tags: ["salesforce", "production"] } });
    expect(webhook).toMatchObject({ id: "wh_ops", url: "https://hooks.example.com/scaivault", events: ["secret.updated", "rotation.completed"], is_active: true });
    expect(webhook.secret).toMatch(/^whsec_/);

    // The server it started in the background logs to scaivault.log.
    const log = await readFile(join(clone.dir, "scaivault.log"), "utf8");
    expect(log).toContain('"msg":"scaivault listening"');
  }, 600_000);
});
