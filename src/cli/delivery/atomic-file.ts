import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** What writing a rendered file did. */
export type WriteOutcome = "written" | "unchanged";

async function currentContent(path: string): Promise<{ content: Buffer; mode: number } | undefined> {
  try {
    const [content, info] = await Promise.all([readFile(path), stat(path)]);
    return { content, mode: info.mode & 0o7777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Writes `content` to `path` so that a reader sees the old file or the new one, never a part:
 * a temp file in the same directory, created with `mode` (so it is never readable by others, not
 * even for a moment), fsynced, renamed over `path`, and the directory fsynced. Nothing is written
 * when the file already holds `content` (its modification time is kept; only a wrong mode is
 * corrected). A missing directory is created owner-only (0700).
 */
export async function writeFileAtomically(path: string, content: string, mode: number): Promise<WriteOutcome> {
  const bytes = Buffer.from(content, "utf8");
  const existing = await currentContent(path);
  if (existing && existing.content.equals(bytes)) {
    if (existing.mode !== mode) await chmod(path, mode);
    return "unchanged";
  }
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", mode & 0o700);
  try {
    try {
      await handle.writeFile(bytes);
      await handle.chmod(mode); // the umask may have narrowed the mode given to open
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return "written";
}
