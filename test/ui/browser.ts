import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";

// Drives Debian's Chromium (never a downloaded browser) with nothing that reaches beyond this machine.

export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const artifacts = fileURLToPath(new URL("../../test-artifacts/ui/", import.meta.url));

export async function launchChromium(): Promise<Browser> {
  expect(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`).toBe(true);
  await mkdir(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    timeout: 300_000,
  });
}

/** A browser context that records every URL requested and every CSP violation the page reports. */
export interface TrackedContext {
  context: BrowserContext;
  page: Page;
  requests: string[];
  cspViolations: string[];
}

export async function openContext(browser: Browser, width = 1280, height = 900): Promise<TrackedContext> {
  const context = await browser.newContext({ viewport: { width, height } });
  context.setDefaultTimeout(90_000);
  const requests: string[] = [];
  const cspViolations: string[] = [];
  context.on("request", (req) => requests.push(req.url()));
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
  });
  return { context, page, requests, cspViolations };
}

/** Signs in by pasting the token, as a user would, and waits for the secrets list. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/ui`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Secrets", level: 1 }).waitFor();
}

/** Every request the page made went to the service's own origin. */
export function expectOnlySameOrigin(requests: string[], baseUrl: string): void {
  const origin = new URL(baseUrl).origin;
  expect(requests.length).toBeGreaterThan(0);
  expect(requests.filter((u) => !u.startsWith("data:") && new URL(u).origin !== origin)).toEqual([]);
}

/** `expect.poll` with room for a loaded machine (the default gives up after one second). */
export function poll<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 60_000, interval: 200 });
}
