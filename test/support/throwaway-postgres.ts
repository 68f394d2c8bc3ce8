import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PostgreSQL cluster of the test's own: password (SCRAM) auth on 127.0.0.1, a superuser `postgres` with `password`. */
export interface ThrowawayPostgres {
  host: "127.0.0.1";
  port: number;
  superuser: "postgres";
  password: string;
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stops the server (fast shutdown) and removes its directory. */
  stop(): Promise<void>;
  /** Stops the server and keeps its data, as an outage would (`fast` or `immediate` shutdown). */
  pause(mode: "fast" | "immediate"): Promise<void>;
  /** Starts a paused server again on the same port. */
  resume(): Promise<void>;
  /**
   * SIGSTOPs the postmaster and every backend: connections stay open and new ones are accepted by
   * the kernel, but nothing answers (a frozen primary, a stuck disk, a silent partition).
   */
  freeze(): Promise<void>;
  /** SIGCONTs what `freeze` stopped. */
  thaw(): Promise<void>;
}

/**
 * Starts a fresh cluster with Debian's initdb and pg_ctl (from `pg_config --bindir`) in a temp dir
 * on a free port, run as the `postgres` OS user when the tests run as root. For tests that need
 * password checks or outages; the shared server on 5432 is trust-auth and must not be touched.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bindir = (await run("pg_config", ["--bindir"])).stdout.trim();
  const dir = await mkdtemp(join(tmpdir(), "sv-pg-"));
  const dataDir = join(dir, "data");
  const password = randomBytes(18).toString("base64url");
  const asPostgres = process.getuid?.() === 0;
  const pg = (tool: string, args: string[]) =>
    asPostgres ? run("runuser", ["-u", "postgres", "--", join(bindir, tool), ...args]) : run(join(bindir, tool), args);

  try {
    await writeFile(join(dir, "pwfile"), password + "\n", { mode: 0o600 });
    if (asPostgres) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
      await chown(join(dir, "pwfile"), Number(stdout.trim()), Number(gid.trim()));
    }
    await pg("initdb", ["-D", dataDir, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${join(dir, "pwfile")}`, "-E", "UTF8", "--no-sync"]);
    await rm(join(dir, "pwfile"));
    const port = await freePort();
    const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=60`;
    const start = () => pg("pg_ctl", ["-D", dataDir, "-l", join(dir, "server.log"), "-w", "-t", "120", "-o", serverOptions, "start"]);
    await start();
    return {
      host: "127.0.0.1",
      port,
      superuser: "postgres",
      password,
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      async stop() {
        try {
          await pg("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "-t", "120", "stop"]).catch(() => undefined); // paused already
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
      async pause(mode) {
        await pg("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "120", "stop"]);
      },
      async resume() {
        await start();
      },
      async freeze() {
        await signalCluster(dataDir, "STOP");
      },
      async thaw() {
        await signalCluster(dataDir, "CONT");
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Sends `signal` to the cluster's postmaster first (so it forks nothing new), then to each of its children. */
async function signalCluster(dataDir: string, signal: "STOP" | "CONT"): Promise<void> {
  const postmaster = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
  if (!Number.isInteger(postmaster) || postmaster <= 1) throw new Error("no postmaster pid");
  const children = (await run("pgrep", ["-P", String(postmaster)]).catch(() => ({ stdout: "" }))).stdout.split("\n").filter(Boolean).map(Number);
  // Stopping: the parent first; continuing: the children first, so none runs without the other side ready.
  const order = signal === "STOP" ? [postmaster, ...children] : [...children, postmaster];
  for (const pid of order) {
    try {
      process.kill(pid, `SIG${signal}`);
    } catch {
      // a backend that ended meanwhile
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
