import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { startTestVault, type TestVault } from "../support/vault.js";
import { buildDist, jsonLines, sleep, startCli, waitFor } from "./delivery-support.js";

/** A command that records every start (its pid and the two variables) and exits 0 on SIGTERM. */
const recordingChild = `
import { appendFileSync } from "node:fs";
appendFileSync(process.env.RECORD, JSON.stringify({ pid: process.pid, a: process.env.PASSWORD ?? null, b: process.env.B ?? null }) + "\\n");
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1000);
`;

interface Start {
  pid: number;
  a: string | null;
  b: string | null;
}

describe("scaivault run --watch", () => {
  let original: TestVault;
  let tv: TestVault;
  const restarted: TestVault[] = [];
  let proxy: TcpProxy;
  let token: string;
  let dir: string;
  beforeAll(async () => {
    buildDist();
    original = tv = await startTestVault();
    proxy = await startTcpProxy(tv.port);
    token = await tv.token({ tenantId: "runw", scopes: ["admin"] });
    dir = await mkdtemp(join(tmpdir(), "scaivault-run-watch-"));
    await writeFile(join(dir, "child.mjs"), recordingChild);
  }, 180_000);
  afterAll(async () => {
    await proxy?.close();
    for (const r of restarted) await r.stop();
    await original?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  const put = async (path: string, data: Record<string, string>) => {
    const res = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data } });
    expect([200, 201]).toContain(res.status);
  };
  const fresh = (label: string) => `${label}-${randomBytes(4).toString("hex")} "q" $X a=b\nnext`;

  it("restarts the command exactly once per real change of a named secret, with the newest values, through reconnects and a service restart", async () => {
    const expected = { a: fresh("a"), b: fresh("b") };
    await put("app/a", { password: expected.a });
    await put("app/b", { v: expected.b, unrelated: "u" });
    await put("app/ab", { password: "other" });
    const record = join(dir, "starts.jsonl");
    const cli = startCli(
      ["run", "--watch", "--debounce", "150ms", "--restart-grace", "3s", "--secret", "app/a", "--env", "B=app/b#v", "--", process.execPath, join(dir, "child.mjs")],
      { SCAIVAULT_URL: proxy.url, SCAIVAULT_TOKEN: token, RECORD: record },
    );
    let wanted = 1;
    const expectStarts = async (why: string) => {
      const starts = await waitFor(`start ${wanted} (${why})`, async () => {
        const s = await jsonLines<Start>(record);
        return s.length >= wanted ? s : undefined;
      });
      await sleep(700); // long enough for a second, spurious restart to show
      const settled = await jsonLines<Start>(record);
      expect(settled.length, `${why}: ${cli.stderr()}`).toBe(wanted);
      expect(settled.at(-1), why).toMatchObject(expected);
      expect(new Set(settled.map((s) => s.pid)).size).toBe(wanted);
      return starts;
    };
    try {
      await expectStarts("first start");

      for (let i = 0; i < 6; i++) {
        const which = Math.random() < 0.5 ? "a" : "b";
        expected[which] = fresh(which);
        await put(which === "a" ? "app/a" : "app/b", which === "a" ? { password: expected.a } : { v: expected.b, unrelated: "u" });
        wanted++;
        await expectStarts(`write ${i} to ${which}`);
      }

      // Three writes inside the debounce: one restart, with the last values.
      for (let i = 0; i < 3; i++) {
        expected.a = fresh("burst");
        await put("app/a", { password: expected.a });
      }
      wanted++;
      await expectStarts("a burst of three writes");

      // Other secrets, one sharing the named paths' prefix: no restart.
      await put("app/ab", { password: fresh("ab") });
      await put("other/x", { password: fresh("x") });
      await expectStarts("writes to other secrets");

      // A network blip: the stream reconnects and resumes; nothing changed, so no restart.
      proxy.dropAll();
      await sleep(1500);
      await expectStarts("a forced reconnect");
      expected.b = fresh("after-blip");
      await put("app/b", { v: expected.b, unrelated: "u" });
      wanted++;
      await expectStarts("a write after the reconnect");

      // A service restart with nothing written: no restart.
      await tv.stop();
      tv = await startTestVault({ reuse: { dataDir: original.dataDir, databaseUrl: original.databaseUrl } });
      restarted.push(tv);
      proxy.retarget(tv.port);
      proxy.dropAll();
      await sleep(1500);
      await expectStarts("a service restart");

      // A service restart with a write while the stream is away: exactly one restart.
      await tv.stop();
      tv = await startTestVault({ reuse: { dataDir: original.dataDir, databaseUrl: original.databaseUrl } });
      restarted.push(tv);
      expected.a = fresh("while-away");
      await put("app/a", { password: expected.a });
      proxy.retarget(tv.port);
      proxy.dropAll();
      wanted++;
      await expectStarts("a write while the stream was away");
    } finally {
      cli.child.kill("SIGTERM");
    }
    expect(await cli.exited).toBe(0);
    for (const value of [expected.a, expected.b]) expect(cli.stderr()).not.toContain(value.split(" ")[0]);
  }, 120_000);

  it("keeps the command running on the old values when the new ones cannot be read, and exits with its code when it exits by itself", async () => {
    await put("keep/a", { password: "kept" });
    const record = join(dir, "kept.jsonl");
    const cli = startCli(["run", "--watch", "--debounce", "50ms", "--secret", "keep/a", "--", process.execPath, join(dir, "child.mjs")], {
      SCAIVAULT_URL: proxy.url,
      SCAIVAULT_TOKEN: token,
      RECORD: record,
    });
    const [first] = await waitFor("the first start", async () => ((await jsonLines<Start>(record)).length ? jsonLines<Start>(record) : undefined));
    expect((await tv.rest("DELETE", "/v1/secrets/keep/a", { token })).status).toBe(200);
    await waitFor("the error", () => cli.stderr().includes("keeping the old ones"));
    expect(await jsonLines<Start>(record)).toHaveLength(1);
    process.kill(first!.pid, "SIGKILL");
    expect(await cli.exited).toBe(137);
  }, 60_000);
});
