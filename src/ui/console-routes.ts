import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { ExtraRoute } from "../transport/universal-app.js";

// The web console at `GET /ui`: static files built from ui/ by `npm run build:ui` into dist/ui/
// (not committed). The page talks to the API over Connect on this same origin, so the policy
// below allows scripts, styles and requests from 'self' only: no inline script, no CDN.

/** Scripts, styles and requests from this origin only; nothing may frame the console. */
export const consoleContentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/** The built files, each served at `/ui/assets/<name>` (the page itself at `/ui`). */
const assetTypes: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};

/** Where `npm run build:ui` writes the console: dist/ui/ at the project root, from src/ui/ or dist/src/ui/. */
function builtConsoleDir(): string[] {
  return [new URL("../../dist/ui/", import.meta.url), new URL("../../../dist/ui/", import.meta.url)].map((u) => fileURLToPath(u));
}

const securityHeaders = {
  "content-security-policy": consoleContentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** Reads one built file from the first build directory that has it (undefined when the console was not built). */
async function readBuilt(name: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  for (const dir of builtConsoleDir()) {
    try {
      return new Uint8Array(await readFile(dir + name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return undefined;
}

/** One built asset with its type, or 404 when the console was not built. */
async function serveBuilt(name: string): Promise<Response> {
  const bytes = await readBuilt(name);
  if (!bytes) return new Response("console not built", { status: 404, headers: { "content-type": "text/plain" } });
  return new Response(bytes, { headers: { ...securityHeaders, "content-type": assetTypes[name]! } });
}

const notBuilt = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ScaiVault console</title></head>
<body><h1>The console is not built</h1><p>Run <code>npm run build</code> (or <code>npm run build:ui</code>) and reload.</p></body></html>`;

/** Creates the routes of the web console. Files are read on each request so a rebuild shows without a restart. */
export function createConsoleRoutes(): ExtraRoute[] {
  const routes: ExtraRoute[] = [
    {
      method: "GET",
      path: "/ui",
      async handle() {
        const page = await readBuilt("index.html");
        return new Response(page ?? notBuilt, {
          status: page ? 200 : 503,
          headers: { ...securityHeaders, "content-type": "text/html; charset=utf-8" },
        });
      },
    },
    {
      // The page's asset URLs are relative to `/ui`; send `/ui/` there so they resolve.
      method: "GET",
      path: "/ui/",
      async handle() {
        return new Response(null, { status: 308, headers: { location: "../ui" } });
      },
    },
    {
      // Browsers ask the origin for its icon whatever page they show: the console's, not a 404.
      method: "GET",
      path: "/favicon.ico",
      handle: () => serveBuilt("favicon.svg"),
    },
  ];
  for (const name of Object.keys(assetTypes)) {
    routes.push({
      method: "GET",
      path: `/ui/assets/${name}`,
      handle: () => serveBuilt(name),
    });
  }
  return routes;
}
