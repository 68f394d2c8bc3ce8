// Builds the web console (ui/src) into dist/ui/: one script, one stylesheet and the page, served
// by the service at /ui. esbuild bundles the generated client from clients/typescript/src with it.
import { copyFile, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const outdir = here("../dist/ui/");

await mkdir(outdir, { recursive: true });
await build({
  entryPoints: { app: here("src/main.tsx") },
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  sourcemap: false,
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: here("../dist/ui/"),
  logLevel: "warning",
  legalComments: "none",
});
await copyFile(here("src/app.css"), outdir + "app.css");
await copyFile(here("index.html"), outdir + "index.html");
await copyFile(here("favicon.svg"), outdir + "favicon.svg");
