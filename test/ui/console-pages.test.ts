import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { artifacts, expectOnlySameOrigin, launchChromium, openContext, poll, signIn, type TrackedContext } from "./browser.js";

// Chromium and a seeded server on a shared 2-core machine: generous limits, no timing assertions.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 600_000 });

// Every main page of the console at a desktop (1280 px) and a phone (390 px) width: an axe-core
// check with no serious or critical violations, a screenshot under test-artifacts/ui/, and no
// request outside the service's origin.

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let tv: TestVault;
let browser: Browser;
let receiver: Server;
let token: string;
let webhookId: string;

/** Main pages: the route, what to wait for, and the screenshot's name. */
const pages: { name: string; route: string; ready: (page: Page) => Promise<unknown> }[] = [
  { name: "secrets", route: "#/secrets", ready: (p) => p.getByRole("link", { name: "app/db/password" }).waitFor() },
  { name: "secret", route: "#/secret?path=app%2Fdb%2Fpassword", ready: (p) => p.locator(".versions").waitFor() },
  { name: "secret-new", route: "#/secret/new", ready: (p) => p.getByRole("heading", { name: "New secret" }).waitFor() },
  { name: "rotation", route: "#/rotation", ready: (p) => p.getByRole("link", { name: "generated" }).waitFor() },
  { name: "rotation-policy", route: "#/rotation/policy?id=rot_generated", ready: (p) => p.locator(".history").waitFor() },
  { name: "rotation-secrets", route: "#/rotation/secrets", ready: (p) => p.getByText("No provider rotations match").waitFor() },
  { name: "rotation-due", route: "#/rotation/due", ready: (p) => p.getByRole("link", { name: "app/db/password" }).waitFor() },
  { name: "webhooks", route: "#/webhooks", ready: (p) => p.getByRole("link", { name: "alerts" }).waitFor() },
  { name: "webhook", route: "", ready: (p) => p.getByRole("heading", { name: /alerts/ }).waitFor() },
  { name: "secret-policies", route: "#/secret-policies", ready: (p) => p.getByRole("cell", { name: "db-passwords", exact: true }).waitFor() },
  { name: "audit", route: "#/audit", ready: (p) => p.locator(".audit-table").waitFor() },
];

beforeAll(async () => {
  receiver = createServer((req, res) => req.resume().on("end", () => res.writeHead(200).end("ok")));
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  [tv, browser] = await Promise.all([startTestVault({ env: { SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } }), launchChromium()]);
  token = await tv.token({});
  const seed = async (method: string, path: string, body: unknown) => {
    const res = await tv.rest(method, path, { token, body });

    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body;
  };
  await seed("POST", "/v1/secret-policies", { name: "db-passwords", length: 24, fields: ["password"] });
  await seed("POST", "/v1/rotation/policies", { name: "generated", interval: "1h", grace_period: "1h", auto_generate: true });
  await seed("PUT", "/v1/secrets/app/db/password", { data: { username: "app", password: "initial" }, metadata: { tags: ["db"], owner: "team-a", description: "Main database" }, options: { rotation_policy_id: "rot_generated" } });
  for (const name of ["stripe", "github", "sendgrid"]) await seed("PUT", `/v1/secrets/app/api/${name}`, { data: { key: `${name}-value` }, secret_type: "api_key", metadata: { tags: ["api"] } });
  await seed("POST", "/v1/rotation/policies/rot_generated/rotate", {});
  await seed("GET", "/v1/secrets/app/db/password", undefined);
  const port = (receiver.address() as AddressInfo).port;
  webhookId = (await seed("POST", "/v1/webhooks", { name: "alerts", url: `http://127.0.0.1:${port}/hook`, events: ["rotation.completed", "rotation.failed"] })).id;
  pages.find((p) => p.name === "webhook")!.route = `#/webhook?id=${webhookId}`;
});
afterAll(async () => {
  await browser?.close();
  await tv?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const result = (await page.evaluate(() => (globalThis as any).axe.run(document, { resultTypes: ["violations"] }))) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe.each([
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
])("console pages at $width px", ({ width, height }) => {
  let ui: TrackedContext;
  beforeAll(async () => {
    ui = await openContext(browser, width, height);
  });
  afterAll(async () => {
    await ui?.context.close();
  });

  it("sign-in page: accessible, screenshot", async () => {
    await ui.page.goto(`${tv.baseUrl}/ui`);
    await ui.page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(await axeViolations(ui.page)).toEqual([]);
    await ui.page.screenshot({ path: join(artifacts, `signin-${width}.png`), fullPage: true });
  });

  it("every main page: accessible (no serious or critical axe violations), screenshot", async () => {
    await signIn(ui.page, tv.baseUrl, token);
    const found: Record<string, string[]> = {};
    for (const p of pages) {
      await ui.page.goto(`${tv.baseUrl}/ui${p.route}`);
      await p.ready(ui.page);
      found[p.name] = await axeViolations(ui.page);
      await ui.page.screenshot({ path: join(artifacts, `${p.name}-${width}.png`), fullPage: true });
    }
    expect(Object.keys(found)).toHaveLength(pages.length);
    expect(found).toEqual(Object.fromEntries(pages.map((p) => [p.name, []])));
  }, 300_000);

  it("fits the width: no horizontal scrolling of the page itself", async () => {
    await ui.page.goto(`${tv.baseUrl}/ui#/secret?path=app%2Fdb%2Fpassword`);
    await ui.page.locator(".versions").waitFor();
    const overflow = await ui.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });

  it("made no request outside the service's origin and broke no CSP rule", () => {
    expectOnlySameOrigin(ui.requests, tv.baseUrl);
    expect(ui.cspViolations).toEqual([]);
  });
});

describe("webhook page", () => {
  it("sends a test event and shows the delivery with its status and response code", async () => {
    const ui = await openContext(browser);
    try {
      await signIn(ui.page, tv.baseUrl, token);
      await ui.page.goto(`${tv.baseUrl}/ui#/webhook?id=${webhookId}`);
      await ui.page.getByRole("button", { name: "Send test" }).click();
      await poll(() => ui.page.locator(".notice").textContent()).toContain("queued");
      await expect
        .poll(
          async () => {
            await ui.page.getByRole("button", { name: "Refresh" }).click();
            await ui.page.getByRole("button", { name: "Refresh" }).waitFor();
            // The whole page, not the table: before the first delivery there is no table, and
            // waiting for one would sit out the browser's action timeout instead of refreshing.
            return ui.page.locator("main").textContent();
          },
          { timeout: 60_000, interval: 1000 },
        )
        .toMatch(/delivered.*200/);
    } finally {
      await ui.context.close();
    }
  }, 180_000);
});
