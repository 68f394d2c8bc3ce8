import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const driver = fileURLToPath(new URL("./hvac_driver.py", import.meta.url));
/** Debian's python3-hvac lives under the system Python, whatever else is on PATH. */
export const systemPython = "/usr/bin/python3";

export type HvacCall = { fn: string; kwargs?: Record<string, unknown> } | { adapter: string; url: string; kwargs?: Record<string, unknown> };
export type HvacResult = { ok: any } | { error: string; errors: string[] | null; message: string };

/** Runs hvac calls in one Python process (one hvac.Client, its connections kept alive), the token passed on stdin. */
export async function runHvac(spec: { url: string; token?: string; namespace?: string; calls: HvacCall[] }): Promise<HvacResult[]> {
  const child = spawn(systemPython, [driver], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(JSON.stringify(spec));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new Error(`hvac driver exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as HvacResult[];
}

/** The result of a call that must have succeeded. */
export function ok(result: HvacResult | undefined): any {
  if (!result || !("ok" in result)) throw new Error(`hvac call failed: ${JSON.stringify(result)}`);
  return result.ok;
}
