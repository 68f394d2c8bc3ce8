/**
 * Writes docs/settings.md from `settings` in src/config.ts, the one list of every environment
 * variable: `npm run docs:settings`. test/docs/settings-doc.test.ts fails when the page differs.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { settings } from "../src/config.js";

export const settingsDocPath = fileURLToPath(new URL("../docs/settings.md", import.meta.url));

/** The page, as `npm run docs:settings` writes it. */
export function renderSettingsDoc(): string {
  const rows = settings.map(([name, fallback, meaning]) => `| \`${name}\` | ${fallback === "" ? "—" : `\`${fallback}\``} | ${meaning} |`);
  return [
    "# Settings",
    "",
    "<!-- Generated from `settings` in src/config.ts by `npm run docs:settings`; edit those, not this page. -->",
    "",
    "All settings come from environment variables, validated at start; every problem is reported at once.",
    "",
    "| variable | default | meaning |",
    "|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(settingsDocPath, renderSettingsDoc());
  console.log(`wrote ${settingsDocPath}`);
}
