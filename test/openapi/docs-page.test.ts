import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";

const run = promisify(execFile);
const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const artifacts = fileURLToPath(new URL("../../test-artifacts", import.meta.url));

let tv: TestVault;
let profiles: string;
beforeAll(async () => {
  tv = await startTestVault();
  profiles = await mkdtemp(join(tmpdir(), "scaivault-chromium-"));
  await mkdir(artifacts, { recursive: true });
});
afterAll(async () => {
  await tv?.close();
  if (profiles) await rm(profiles, { recursive: true, force: true });
});

/** Headless Chromium on the page with a fresh profile and nothing that reaches beyond this machine. */
async function headless(url: string, profile: string, ...extra: string[]): Promise<string> {
  const { stdout } = await run(
    chromium,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${join(profiles, profile)}`,
      "--window-size=1280,2400",
      "--hide-scrollbars",
      // Lets the page run its scripts (and fetch /openapi.json) before the DOM or screenshot is taken.
      "--virtual-time-budget=15000",
      ...extra,
      url,
    ],
    { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 },
  );
  return stdout;
}

describe("GET /docs", () => {
  it("serves the page and its assets from this server, with no CDN", async () => {
    const page = await fetch(`${tv.baseUrl}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await page.text();
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(2);
    for (const url of urls) {
      expect(url).not.toMatch(/^(https?:)?\/\//);
      const asset = await fetch(new URL(url, `${tv.baseUrl}/docs`));
      expect([url, asset.status]).toEqual([url, 200]);
    }
  });

  it("renders every route in headless Chromium (screenshot in test-artifacts/)", async () => {
    expect(existsSync(chromium), `${chromium} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`).toBe(true);
    const dom = await headless(`${tv.baseUrl}/docs`, "dom", "--dump-dom");
    const rendered = new Set([...dom.matchAll(/class="opblock-summary-path[^"]*" data-path="([^"]+)"/g)].map((m) => m[1]!.replace(/\u200b/g, "")));
    const doc = await (await fetch(`${tv.baseUrl}/openapi.json`)).json();
    expect([...rendered].sort()).toEqual(Object.keys(doc.paths).sort());
    expect(dom).toContain("ScaiVault API");
    expect(dom).toContain("Reads the current version of a secret");

    const screenshot = join(artifacts, "docs.png");
    await rm(screenshot, { force: true });
    await headless(`${tv.baseUrl}/docs`, "screenshot", `--screenshot=${screenshot}`);
    expect((await stat(screenshot)).size).toBeGreaterThan(50_000);
    expect((await readFile(screenshot)).subarray(1, 4).toString()).toBe("PNG");
  });
});
