import { execFile } from "node:child_process";
import { chown, mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PostgreSQL cluster of a test's own (never the shared one), for outages and restarts. */
export interface ThrowawayPostgres {
  url: string;
  port: number;
  stop(mode: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Runs Debian's initdb and pg_ctl (from `pg_config --bindir`) as the `postgres` user when we are
 * root, on a free loopback port, in a temporary directory.
 */
export async function createThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bindir = (await run("pg_config", ["--bindir"])).stdout.trim();
  const root = await mkdtemp(join(tmpdir(), "scaivault-pg-"));
  const dataDir = join(root, "cluster");
  const asPostgres = (cmd: string, args: string[]) =>
    process.getuid?.() === 0 ? run("runuser", ["-u", "postgres", "--", join(bindir, cmd), ...args]) : run(join(bindir, cmd), args);
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(root, Number(stdout.trim()), Number(gid.trim()));
  }
  await asPostgres("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const port = await freePort();
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = async () => {
    await asPostgres("pg_ctl", ["-D", dataDir, "-o", options, "-l", join(root, "log"), "-w", "-t", "60", "start"]);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    async stop(mode) {
      await asPostgres("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
    },
    async destroy() {
      await asPostgres("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await rm(root, { recursive: true, force: true });
    },
  };
}
