import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { artifacts, launchChromium, openContext, signIn, type TrackedContext } from "./browser.js";

// Chromium and a server on a shared 2-core machine: generous limits, no timing assertions.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 600_000 });

// The console's details a first visit trips over: a quiet console on a secret without provider
// rotation, a favicon, a cron policy's schedule in the Interval column, the secrets table at 390 px.

let tv: TestVault;
let browser: Browser;
let token: string;

beforeAll(async () => {
  [tv, browser] = await Promise.all([startTestVault(), launchChromium()]);
  token = await tv.token({});
  const seed = async (method: string, path: string, body: unknown) => {
    const res = await tv.rest(method, path, { token, body });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body;
  };
  await seed("POST", "/v1/rotation/policies", { name: "weekly-cron", schedule: "0 3 * * SAT", timezone: "Europe/Berlin", grace_period: "1h", auto_generate: true });
  await seed("POST", "/v1/rotation/policies", { name: "hourly", interval: "1h", grace_period: "1h", auto_generate: true });
  // Long paths and many tags: what makes a table wider than a phone.
  for (const name of ["salesforce-production-integration-user", "stripe-restricted-key-for-the-billing-worker", "sendgrid"]) {
    await seed("PUT", `/v1/secrets/environments/production/integrations/${name}`, {
      data: { key: `${name}-value` },
      secret_type: "api_key",
      metadata: { tags: ["production", "integrations", "billing", "team-payments", "rotated-quarterly"] },
    });
  }
});
afterAll(async () => {
  await browser?.close();
  await tv?.close();
});

/** A context that also records console errors and every answer of 400 or more. */
async function watchedContext(width: number, height: number): Promise<TrackedContext & { consoleErrors: string[]; failedResponses: string[] }> {
  const tracked = await openContext(browser, width, height);
  const consoleErrors: string[] = [];
  const failedResponses: string[] = [];
  tracked.page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  tracked.page.on("pageerror", (err) => consoleErrors.push(err.message));
  tracked.page.on("response", (res) => {
    if (res.status() >= 400) failedResponses.push(`${res.status()} ${res.url()}`);
  });
  return { ...tracked, consoleErrors, failedResponses };
}

describe("console details", () => {
  it("a secret without provider rotation: its page logs no error and asks for nothing that fails", async () => {
    const ui = await watchedContext(1280, 900);
    try {
      await signIn(ui.page, tv.baseUrl, token);
      await ui.page.goto(`${tv.baseUrl}/ui#/secret?path=${encodeURIComponent("environments/production/integrations/sendgrid")}`);
      // The rotation card offers to enable rotation once it knows there is no binding.
      await ui.page.getByRole("region", { name: "Rotation" }).getByRole("button", { name: /enable rotation/i }).waitFor();
      await ui.page.locator(".versions").waitFor();
      expect(ui.consoleErrors).toEqual([]);
      expect(ui.failedResponses).toEqual([]);
    } finally {
      await ui.context.close();
    }
  });

  it("serves a favicon: the page's icon and /favicon.ico answer 200 with an image", async () => {
    const ui = await watchedContext(1280, 900);
    try {
      await ui.page.goto(`${tv.baseUrl}/ui`);
      await ui.page.getByRole("button", { name: "Sign in" }).waitFor();
      const icon = await ui.page.evaluate(() => (document.querySelector('link[rel="icon"]') as HTMLLinkElement | null)?.href);
      expect(icon).toBeDefined();
      for (const url of [icon!, `${tv.baseUrl}/favicon.ico`]) {
        const res = await fetch(url);
        expect(res.status, url).toBe(200);
        expect(res.headers.get("content-type"), url).toMatch(/^image\//);
        expect((await res.text()).length).toBeGreaterThan(0);
      }
      expect(ui.failedResponses).toEqual([]);
    } finally {
      await ui.context.close();
    }
  });

  it("shows a cron policy's schedule where an interval policy shows its interval", async () => {
    const ui = await watchedContext(1280, 900);
    try {
      await signIn(ui.page, tv.baseUrl, token);
      await ui.page.goto(`${tv.baseUrl}/ui#/rotation`);
      const cronRow = ui.page.getByRole("row").filter({ has: ui.page.getByRole("link", { name: "weekly-cron" }) });
      await cronRow.waitFor();
      const headings = await ui.page.locator("main table thead th").allTextContents();
      const intervalColumn = headings.indexOf("Interval");
      expect(intervalColumn).toBeGreaterThan(0);
      expect(await cronRow.getByRole("cell").nth(intervalColumn).textContent()).toContain("0 3 * * SAT");
      const hourlyRow = ui.page.getByRole("row").filter({ has: ui.page.getByRole("link", { name: "hourly" }) });
      expect(await hourlyRow.getByRole("cell").nth(intervalColumn).textContent()).toBe("1h");

      await cronRow.getByRole("link", { name: "weekly-cron" }).click();
      await ui.page.locator("dl.meta").waitFor();
      const interval = ui.page.locator("dl.meta dt", { hasText: "Interval" }).locator("xpath=following-sibling::dd[1]");
      expect(await interval.textContent()).toContain("0 3 * * SAT");
      expect(await interval.textContent()).toContain("Europe/Berlin");
      expect(ui.consoleErrors).toEqual([]);
    } finally {
      await ui.context.close();
    }
  });

  it("at 390 px the secrets table fits the width: every cell it shows is on screen without scrolling, labelled, still a table", async () => {
    const ui = await watchedContext(390, 844);
    try {
      await signIn(ui.page, tv.baseUrl, token);
      await ui.page.goto(`${tv.baseUrl}/ui#/secrets?prefix=${encodeURIComponent("environments/production/integrations/")}`);
      await ui.page.getByRole("link", { name: /stripe-restricted-key/ }).waitFor();
      await ui.page.screenshot({ path: join(artifacts, "secrets-long-paths-390.png"), fullPage: true });
      const layout = await ui.page.evaluate(() => {
        const table = document.querySelector("table.secrets-table") as HTMLTableElement;
        const wrap = table.parentElement!;
        const offScreen: string[] = [];
        for (const td of Array.from(table.querySelectorAll("tbody td"))) {
          if (getComputedStyle(td).display === "none") continue;
          const box = td.getBoundingClientRect();
          if (box.left < 0 || box.right > window.innerWidth) offScreen.push(`${td.textContent} at ${Math.round(box.left)}..${Math.round(box.right)}`);
        }
        // Each shown cell of the first row with the label its ::before puts in front of it.
        const firstRow = Array.from(table.querySelectorAll("tbody tr:first-child td"))
          .filter((td) => getComputedStyle(td).display !== "none")
          .map((td) => `${getComputedStyle(td, "::before").content.replace(/^"|"$/g, "").replace(/^none$/, "")}${td.textContent}`.trim());
        return {
          offScreen,
          wrapOverflow: wrap.scrollWidth - wrap.clientWidth,
          pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          firstRow,
        };
      });
      expect(layout.offScreen).toEqual([]);
      expect(layout.wrapOverflow).toBeLessThanOrEqual(0);
      expect(layout.pageOverflow).toBeLessThanOrEqual(0);
      // The path, then type, version and tags, each with its label.
      expect(layout.firstRow).toEqual([
        "environments/production/integrations/salesforce-production-integration-user",
        "Type api_key",
        "Version 1",
        "Tags production, integrations, billing, team-payments, rotated-quarterly",
      ]);
      // The cards are still a table to assistive technology: a header row and one row per secret.
      await expect(ui.page.getByRole("columnheader", { name: "Path" }).count()).resolves.toBe(1);
      await expect(ui.page.locator("table.secrets-table").getByRole("row").count()).resolves.toBe(4);
      expect(ui.consoleErrors).toEqual([]);
    } finally {
      await ui.context.close();
    }
  });
});
