import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderSettingsDoc, settingsDocPath } from "../../scripts/settings-doc.js";
import { settings } from "../../src/config.js";

describe("docs/settings.md", () => {
  it("is what `npm run docs:settings` writes from config.ts's settings (run it after changing a setting)", () => {
    expect(readFileSync(settingsDocPath, "utf8")).toBe(renderSettingsDoc());
  });

  it("names every setting with its default", () => {
    const page = readFileSync(settingsDocPath, "utf8");
    for (const [name, fallback] of settings) expect(page).toContain(`| \`${name}\` | ${fallback === "" ? "—" : `\`${fallback}\``} |`);
  });
});
