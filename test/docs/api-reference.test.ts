import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/fresh-clone.js";
import { startTestVault, type TestVault } from "../support/vault.js";

/** Every `google.api.http` binding written in proto/ (main rule and additional bindings), as "VERB /template". */
async function protoRoutes(): Promise<string[]> {
  const routes: string[] = [];
  const visit = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.name.endsWith(".proto")) {
        const text = await readFile(path, "utf8");
        for (const m of text.matchAll(/\b(get|put|post|patch|delete)\s*:\s*"([^"]+)"/g)) {
          // {path=**} is written {path} in the reference, as in the REST examples.
          routes.push(`${m[1]!.toUpperCase()} ${m[2]!.replace(/\{([\w.]+)=[^}]*\}/g, "{$1}")}`);
        }
      }
    }
  };
  await visit(join(repoRoot, "proto", "scaivault"));
  return routes;
}

describe("docs/api.md", () => {
  it("documents every REST route in the protos, each as `VERB /template`", async () => {
    const reference = await readFile(join(repoRoot, "docs", "api.md"), "utf8");
    const routes = await protoRoutes();
    expect(routes).toContain("GET /v1/secrets/{path}");
    expect(routes.length).toBeGreaterThanOrEqual(39);
    const missing = routes.filter((route) => !reference.includes(`\`${route}\``));
    expect(missing).toEqual([]);
  });

  it("names every error code the service can answer", async () => {
    const reference = await readFile(join(repoRoot, "docs", "api.md"), "utf8");
    const { errorCodes } = await import("../../src/errors.js");
    const missing = Object.keys(errorCodes).filter((code) => !reference.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });

  it("nothing in the repository points outside it (../shared)", async () => {
    const { execFileSync } = await import("node:child_process");
    const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).split("\n").filter(Boolean);
    const offenders: string[] = [];
    for (const file of files) {
      if (file === "package-lock.json" || file.startsWith("test/docs/")) continue;
      const text = await readFile(join(repoRoot, file), "utf8").catch(() => "");
      if (text.includes("../shared/") || text.includes("shared/spec")) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});

describe("/docs/ with a trailing slash", () => {
  let tv: TestVault;
  beforeAll(async () => {
    tv = await startTestVault();
  });
  afterAll(async () => {
    await tv?.close();
  });

  it("redirects to /docs, whose relative asset URLs then resolve", async () => {
    const res = await fetch(`${tv.baseUrl}/docs/`, { redirect: "manual" });
    expect(res.status).toBe(308);
    const target = new URL(res.headers.get("location")!, `${tv.baseUrl}/docs/`);
    expect(target.pathname).toBe("/docs");
    const page = await fetch(target);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('src="docs/assets/swagger-ui-bundle.js"');
  });
});
