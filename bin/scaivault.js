#!/usr/bin/env node
// The `scaivault` command: runs the CLI compiled into dist/ (`npm ci` builds it; `npm run build`
// rebuilds it after changing the sources).
try {
  await import("../dist/src/cli/main.js");
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes("dist/src/cli/main.js")) throw err;
  process.stderr.write("scaivault: dist/ is not built; run `npm run build` (or `npm ci`) in the ScaiVault checkout\n");
  process.exit(1);
}
