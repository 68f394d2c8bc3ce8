import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createManualClock } from "../../src/clock.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { artifacts, expectOnlySameOrigin, launchChromium, openContext, poll, signIn, type TrackedContext } from "./browser.js";

// Chromium and a seeded server on a shared 2-core machine: generous limits, no timing assertions.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 600_000 });

// Provider rotation in the console, in real headless Chromium against a real server: a secret is
// bound to the `webhook` provider pointing at a loopback endpoint this test runs (the prior art's
// contract: POST {action: "rotate", currentValue, ...} with X-Webhook-Secret → {newValue}),
// rotated now, watched through its steps and version stages, then made to fail and shown in red.
// The scheduler is off and the server's clock is injected: the test runs the runner's passes
// (verify, and revoke after the grace period) itself instead of sleeping through them.

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const HOUR = 3600_000;
const WEBHOOK_SECRET = "whsec-typed-into-the-console-7f3a";
const PATH = "partners/acme/api-key";
const secretPage = `#/secret?path=${encodeURIComponent(PATH)}`;

/** The customer's rotation endpoint: issues `rotated-N`, or answers 500 while `failing`. */
interface Endpoint {
  url: string;
  failing: boolean;
  calls: { secret: string | undefined; body: any }[];
}

let tv: TestVault;
let browser: Browser;
let server: Server;
let endpoint: Endpoint;
let ui: TrackedContext;
let token: string;
const clock = createManualClock(new Date());

beforeAll(async () => {
  endpoint = { url: "", failing: false, calls: [] };
  server = createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      // The pre-flight's GET: the rotate route takes POST only.
      if (req.method === "GET") return void res.writeHead(405).end();
      const body = JSON.parse(text || "{}");
      endpoint.calls.push({ secret: req.headers["x-webhook-secret"] as string | undefined, body });
      if (endpoint.failing) return void res.writeHead(500, { "content-type": "text/plain" }).end("rotator down");
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ newValue: `rotated-${endpoint.calls.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rotate`;
  [tv, browser] = await Promise.all([
    startTestVault({ clock, env: { SCAIVAULT_SCHEDULER_ENABLED: "false", SCAIVAULT_WEBHOOK_ALLOW_HOSTS: "127.0.0.1" } }),
    launchChromium(),
  ]);
  // The server's clock moves past the grace period below; the token outlives it.
  token = await tv.token({ ttlSeconds: 86_400 });
  for (const [path, value] of [
    [PATH, "initial"],
    ["partners/beta/api-key", "beta"],
  ] as const) {
    const res = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { api_key: value }, secret_type: "api_key" } });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
  ui = await openContext(browser);
});
afterAll(async () => {
  await browser?.close();
  await tv?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const runDue = () => tv.vault.rotationRunner.runDue(clock.now());
const region = (page: Page) => page.getByRole("region", { name: "Rotation", exact: true });
const stages = (page: Page) => page.locator(".versions tbody tr").evaluateAll((rows) => rows.map((r) => `${r.children[0]!.textContent}:${r.children[1]!.textContent}`));
const latestRun = (page: Page) => page.locator(".run-list > li").first();
const stepRows = (page: Page) => latestRun(page).locator(".steps tbody tr").evaluateAll((rows) => rows.map((r) => `${r.children[0]!.textContent}:${r.children[1]!.textContent}`));

async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const result = (await page.evaluate(() => (globalThis as any).axe.run(document, { resultTypes: ["violations"] }))) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe("provider rotation in the console", () => {
  it("enables rotation with the webhook provider; the credential is write-only", async () => {
    const { page } = ui;
    await signIn(page, tv.baseUrl, token);
    await page.goto(`${tv.baseUrl}/ui${secretPage}`);
    await page.getByRole("heading", { name: PATH }).waitFor();
    const panel = region(page);
    await panel.getByLabel("Rotated by").selectOption("webhook");
    await panel.getByLabel("Endpoint URL").fill(endpoint.url);
    const secretInput = panel.getByLabel("Webhook secret");
    expect(await secretInput.getAttribute("type")).toBe("password");
    await secretInput.fill(WEBHOOK_SECRET);
    await panel.getByLabel("Grace period").fill("1h");
    await panel.getByLabel("Attempts per step").fill("1");
    // Submitted from the keyboard.
    await panel.getByLabel("Attempts per step").press("Enter");

    await poll(() => panel.locator(".binding-provider").textContent().catch(() => null)).toBe("webhook");
    expect(await panel.locator(".binding-status").textContent()).toContain("active");
    expect(await panel.textContent()).toContain("stored (write-only, never shown)");
    expect(await panel.textContent()).toContain("manual only");
    await page.getByText("No rotation has run yet").waitFor();

    // The secret went to the service and nowhere else: not on the page, in an input, the URL or storage.
    expect(await page.locator("input[type=password]").count()).toBe(0);
    expect(await page.content()).not.toContain(WEBHOOK_SECRET);
    expect(page.url()).not.toContain(WEBHOOK_SECRET);
    const storage = await page.evaluate(() => ({ local: localStorage.length, session: JSON.stringify({ ...sessionStorage }) }));
    expect(storage.local).toBe(0);
    expect(storage.session).not.toContain(WEBHOOK_SECRET);
    const stored = await tv.rest("GET", `/v1/rotation/secrets/${PATH}`, { token });
    expect(stored.body).toMatchObject({ provider: "webhook", config: { url: endpoint.url }, has_credentials: true, grace_period: "1h", max_attempts: 1, status: "active" });
    expect(JSON.stringify(stored.body)).not.toContain(WEBHOOK_SECRET);
  });

  it("rotates now: the run succeeds step by step and the version stages change", async () => {
    const { page } = ui;
    const panel = region(page);
    expect(await stages(page)).toEqual(["1:current"]);
    await panel.getByRole("button", { name: "Rotate now" }).click();
    await poll(() => panel.locator(".notice").textContent().catch(() => null)).toMatch(/^Rotated: version 1 → 2 \(run run_\w+\)\.$/);
    expect(endpoint.calls).toHaveLength(1);
    expect(endpoint.calls[0]).toMatchObject({ secret: WEBHOOK_SECRET, body: { action: "rotate", currentValue: "initial", path: PATH } });

    // Promoted: version 2 is current, version 1 previous (readable through the grace period).
    await poll(() => stages(page)).toEqual([expect.stringMatching(/^2:current$/), expect.stringMatching(/^1:previous, readable until/)]);
    await poll(() => latestRun(page).locator("summary").textContent()).toContain("running");
    expect(await stepRows(page)).toEqual(["preflight:succeeded", "create:succeeded", "test:succeeded", "promote:succeeded"]);
    expect(await latestRun(page).locator("summary").textContent()).toContain("manual by tester");

    // The runner's passes: verify now, revoke once the grace period is over.
    expect(await runDue()).toBe(1);
    await panel.getByRole("button", { name: "Refresh" }).click();
    await poll(() => latestRun(page).locator("summary").textContent()).toContain("waiting grace");
    clock.advance(HOUR + 1000);
    expect(await runDue()).toBe(1);
    await panel.getByRole("button", { name: "Refresh" }).click();
    await poll(() => latestRun(page).locator("summary").textContent()).toContain("succeeded");
    expect(await stepRows(page)).toEqual(["preflight:succeeded", "create:succeeded", "test:succeeded", "promote:succeeded", "verify:succeeded", "revoke:succeeded"]);
    expect(await latestRun(page).locator(".run-step").textContent()).toBe("done");
    // The old credential is revoked: version 1 is no longer listed.
    await poll(() => stages(page)).toEqual(["2:current"]);
    expect(await panel.locator(".last-run").textContent()).toContain("succeeded");
    expect(await page.locator(".failing-count").count()).toBe(0);
  });

  it("Test connection shows the pre-flight; Emergency rotate confirms what stops working, asks why, and revokes at once", async () => {
    const { page } = ui;
    const panel = region(page);
    const posts = endpoint.calls.length;
    await panel.getByRole("button", { name: "Test connection" }).click();
    await poll(() => panel.locator(".notice").textContent().catch(() => null)).toMatch(/^Connection OK: reachable: the endpoint answered 405 to GET/);
    expect(endpoint.calls.length).toBe(posts);

    const dialogs: string[] = [];
    const answer = (d: import("playwright-core").Dialog) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void (d.type() === "prompt" ? d.accept("leaked in a screenshot") : d.accept());
    };
    page.on("dialog", answer);
    try {
      await panel.getByRole("button", { name: "Emergency rotate" }).click();
      await poll(() => panel.locator(".notice").textContent().catch(() => null)).toMatch(/^Emergency rotation: version 3 is current; version 2 was revoked once verify passed\.$/);
    } finally {
      page.off("dialog", answer);
    }
    expect(dialogs[0]).toMatch(/^confirm: Emergency rotate /);
    expect(dialogs[0]).toContain("stops working");
    expect(dialogs[1]).toMatch(/^prompt: Why\?/);
    await poll(() => stages(page)).toEqual(["3:current"]);
  });

  it("a failing rotation shows red: the error with its request id, the badges, the run's failed step and the header counter", async () => {
    const { page } = ui;
    const panel = region(page);
    endpoint.failing = true;
    await panel.getByRole("button", { name: "Rotate now" }).click();
    const error = panel.locator(".error");
    await error.waitFor();
    expect(await error.textContent()).toMatch(/rotation failed at step create: webhook answered 500 to rotate \(run run_\w+\)\. Version \d+ is still current/);
    expect(await error.textContent()).toContain("/retry");
    expect(await error.textContent()).toContain("unavailable");
    expect(await error.locator(".request-id").textContent()).toMatch(/\S{6,}/);

    const red = "rgb(180, 35, 24)";
    await poll(() => panel.locator(".binding-status .badge").textContent()).toBe("rotation failing");
    expect(await panel.locator(".binding-status .badge").evaluate((el) => getComputedStyle(el).backgroundColor)).toBe(red);
    await poll(() => page.locator("h1 .badge-bad").textContent().catch(() => null)).toBe("rotation failing");
    await poll(() => latestRun(page).locator("summary").textContent()).toContain("failed");
    expect(await stepRows(page)).toEqual(["preflight:succeeded", "create:failed"]);
    expect(await latestRun(page).locator(".run-error").textContent()).toContain("webhook answered 500 to rotate");
    // Nothing was promoted: version 3 (of the emergency) stays current.
    expect(await stages(page)).toEqual(["3:current"]);

    const counter = page.locator(".failing-count");
    await poll(() => counter.textContent().catch(() => null)).toBe("1 failing rotation");
    expect(await counter.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe(red);
    await counter.focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Provider rotations" }).waitFor();
    expect(page.url()).toContain("#/rotation/secrets?status=failing");
    const rows = page.locator(".bindings-table tbody tr");
    await poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain(PATH);
    expect(await rows.first().locator(".badge-bad").first().textContent()).toBe("rotation failing");
    expect(await rows.first().textContent()).toContain("webhook answered 500");

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Secrets" }).click();
    const listed = page.locator(".secrets-table tbody tr", { hasText: PATH });
    await poll(() => listed.locator(".badge-bad").textContent().catch(() => null)).toBe("rotation failing");
    expect(await page.locator(".secrets-table tbody tr", { hasText: "partners/beta/api-key" }).locator(".badge-bad").count()).toBe(0);
  });

  it("made no request outside the service's origin and broke no CSP rule", () => {
    expectOnlySameOrigin(ui.requests, tv.baseUrl);
    expect(ui.cspViolations).toEqual([]);
  });
});

describe.each([
  { width: 1280, height: 900 },
  { width: 390, height: 844 },
])("provider rotation pages at $width px", ({ width, height }) => {
  let view: TrackedContext;
  beforeAll(async () => {
    view = await openContext(browser, width, height);
  });
  afterAll(async () => {
    await view?.context.close();
  });

  it("are accessible (no serious or critical axe violations), fit the width, and are screenshotted", async () => {
    const { page } = view;
    await signIn(page, tv.baseUrl, token);
    const pages: { name: string; route: string; ready: () => Promise<unknown> }[] = [
      { name: "secret-rotation-failing", route: secretPage, ready: () => page.locator(".run-list .steps").first().waitFor() },
      { name: "rotation-bindings-failing", route: "#/rotation/secrets?status=failing", ready: () => page.locator(".bindings-table").waitFor() },
      {
        name: "secret-rotation-enable",
        route: "#/secret?path=partners%2Fbeta%2Fapi-key",
        ready: async () => {
          await region(page).getByLabel("Rotated by").selectOption("webhook");
          await region(page).getByLabel("Webhook secret").waitFor();
        },
      },
    ];
    const found: Record<string, string[]> = {};
    for (const p of pages) {
      await page.goto(`${tv.baseUrl}/ui${p.route}`);
      await p.ready();
      found[p.name] = await axeViolations(page);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow > 0) found[p.name]!.push(`scrolls sideways by ${overflow} px`);
      await page.screenshot({ path: join(artifacts, `${p.name}-${width}.png`), fullPage: true });
    }
    expect(found).toEqual(Object.fromEntries(pages.map((p) => [p.name, []])));
    expectOnlySameOrigin(view.requests, tv.baseUrl);
    expect(view.cspViolations).toEqual([]);
  });
});
