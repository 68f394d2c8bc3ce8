import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

// vitest globalSetup: builds the web console (dist/ui/) once before any test file runs, so the
// served /ui is always the console of the code under test.
export default async function buildConsole(): Promise<void> {
  await promisify(execFile)(process.execPath, [fileURLToPath(new URL("../../ui/build.mjs", import.meta.url))], { timeout: 120_000 });
}
