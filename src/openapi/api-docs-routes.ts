import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import type { ExtraRoute } from "../transport/universal-app.js";
import { createOpenApiDocument } from "./openapi-document.js";

// `GET /openapi.json` and an interactive reference at `GET /docs`, served without a CDN: the
// page loads Swagger UI from the swagger-ui-dist package installed with npm, so it works offline.

/** What the docs routes need from the app. */
export interface ApiDocsOptions {
  /** The services the app serves (read on first request, once every service is registered). */
  services: () => readonly DescService[];
  /** The document's `info.version` (default: the package's version). */
  version?: string;
}

/** Static files of the page, each served at `/docs/assets/<name>` from swagger-ui-dist or from here. */
const swaggerAssets: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

// Relative URLs, so the page also works behind a proxy that mounts the service under a prefix.
const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ScaiVault API reference</title>
  <link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/assets/docs.js"></script>
</body>
</html>
`;

// No validator badge: it would send the document to validator.swagger.io.
const initScript = `window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
});
`;

/** Scripts only from this origin (no inline script); Swagger UI sets inline styles and data: images. */
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** The version in the project's package.json: two levels up from this file in src/, three from the build in dist/src/. */
export function packageVersion(): string {
  for (const up of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "scaivault") return pkg.version ?? "0.0.0";
    } catch {
      // not here; try one level up
    }
  }
  return "0.0.0";
}

/** Creates the routes of the OpenAPI document and the API reference page. */
export function createApiDocsRoutes(options: ApiDocsOptions): ExtraRoute[] {
  let document: string | undefined;
  const assetDir = join(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"), "..");
  const assets = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

  const routes: ExtraRoute[] = [
    {
      method: "GET",
      path: "/openapi.json",
      async handle() {
        document ??= JSON.stringify(createOpenApiDocument({ services: options.services(), version: options.version ?? packageVersion() }), null, 2);
        return new Response(document, { headers: { "content-type": "application/json", "cache-control": "no-cache", "access-control-allow-origin": "*" } });
      },
    },
    {
      method: "GET",
      path: "/docs",
      async handle() {
        return new Response(page, { headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": contentSecurityPolicy, "cache-control": "no-cache" } });
      },
    },
    {
      // The page's URLs are relative to /docs, so /docs/ (a common way to type it) redirects there.
      method: "GET",
      path: "/docs/",
      async handle() {
        return new Response(null, { status: 308, headers: { location: "../docs" } });
      },
    },
    {
      method: "GET",
      path: "/docs/assets/docs.js",
      async handle() {
        return new Response(initScript, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" } });
      },
    },
  ];
  for (const [name, contentType] of Object.entries(swaggerAssets)) {
    routes.push({
      method: "GET",
      path: `/docs/assets/${name}`,
      async handle() {
        let bytes = assets.get(name);
        if (!bytes) {
          bytes = readFile(join(assetDir, name)).then((b) => new Uint8Array(b));
          assets.set(name, bytes);
          bytes.catch(() => assets.delete(name));
        }
        return new Response(await bytes, { headers: { "content-type": contentType, "cache-control": "public, max-age=3600" } });
      },
    });
  }
  return routes;
}
