import { chmod, mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";

/**
 * Makes the embedded data directory private before PGlite opens it: created 0700 when missing,
 * tightened to 0700 when others may read it, and refused when others may write it (anyone who can
 * write there can swap the database or the key files; nothing is safe to fix by itself then).
 */
export async function prepareDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { mode } = await stat(dataDir);
  if ((mode & 0o022) !== 0) {
    throw new Error(
      `the data directory ${dataDir} is writable by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")}); ` +
        `make it private (chmod 700 ${dataDir}) and start again`,
    );
  }
  if ((mode & 0o077) !== 0) await chmod(dataDir, 0o700);
}

/**
 * PGlite writes its files 0666 and its directories 0755 whatever the umask; this sets every file
 * under the data directory to 0600 and every directory to 0700. Run after opening, periodically
 * (files appear as tables grow) and on close.
 */
export async function restrictDataDirModes(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await tighten(path, 0o700);
      await restrictDataDirModes(path);
    } else if (entry.isFile()) {
      await tighten(path, 0o600);
    }
  }
}

async function tighten(path: string, wanted: number): Promise<void> {
  try {
    const { mode } = await stat(path);
    if ((mode & 0o777) !== wanted) await chmod(path, wanted);
  } catch (err) {
    // A file PGlite removed between the listing and here is no longer ours to fix.
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}
