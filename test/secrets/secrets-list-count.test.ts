import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/cli.js";
import { commands } from "../../src/cli/commands/index.js";
import { startTestVault, type TestVault } from "../support/vault.js";

// The bound is a setting, so both sides of it are reached with a handful of secrets.
const bound = 3;

describe("listing counts: exact up to the bound, a flagged lower bound past it", () => {
  let tv: TestVault;
  let token: string;
  let home: string;
  const list = async (query: string) => {
    const res = await tv.rest("GET", `/v1/secrets?${query}`, { token });
    expect(res.status).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    tv = await startTestVault({ env: { SCAIVAULT_LIST_COUNT_LIMIT: String(bound) } });
    token = await tv.token({ tenantId: "counts", scopes: ["admin"] });
    home = await mkdtemp(join(tmpdir(), "scaivault-counts-"));
    const put = (path: string, body: object) => tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data: { v: path }, ...body } });
    for (const path of ["app/a", "app/b", "app/c", "app/d", "app/e"]) expect((await put(path, { metadata: { tags: ["web"] } })).status).toBe(201);
    for (const path of ["app-x/a", "apple", "db/one", "db/three", "db/two"]) expect((await put(path, { secret_type: "json", metadata: { tags: ["db"] } })).status).toBe(201);
    // Another tenant's secrets never count.
    const other = await tv.token({ tenantId: "counts-other", scopes: ["admin"] });
    for (const path of ["db/1", "db/2", "db/3"]) await tv.rest("PUT", `/v1/secrets/${path}`, { token: other, body: { data: { v: 1 } } });
  });
  afterAll(async () => {
    await tv?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("counts exactly at and below the bound", async () => {
    // Exactly the bound is still exact.
    expect(await list("prefix=db/")).toMatchObject({ total_count: 3, total_count_exact: true, has_more: false });
    expect(await list("prefix=db/&limit=1")).toMatchObject({ total_count: 3, total_count_exact: true, has_more: true });
    expect(await list("secret_type=json&prefix=app")).toMatchObject({ total_count: 2, total_count_exact: true });
    expect(await list("tag=db&prefix=a")).toMatchObject({ total_count: 2, total_count_exact: true });
    expect(await list("tag=db&secret_type=json&prefix=db/t")).toMatchObject({ total_count: 2, total_count_exact: true });
    // The count is of every match, not of the rows after the cursor.
    const after = await list("prefix=app/&cursor=" + Buffer.from(JSON.stringify({ after: "app/b" })).toString("base64url"));
    expect(after.secrets.map((s: { path: string }) => s.path)).toEqual(["app/c", "app/d", "app/e"]);
    expect(after).toMatchObject({ total_count: bound, total_count_exact: false });
  });

  it("past the bound answers the bound with total_count_exact false, on every page, with every row still listed", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(`prefix=app/&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page).toMatchObject({ total_count: bound, total_count_exact: false });
      seen.push(...page.secrets.map((s: { path: string }) => s.path));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(["app/a", "app/b", "app/c", "app/d", "app/e"]);
    expect(await list("tag=web")).toMatchObject({ total_count: bound, total_count_exact: false });
    expect(await list("tag=db")).toMatchObject({ total_count: bound, total_count_exact: false });
    expect(await list("secret_type=kv")).toMatchObject({ total_count: bound, total_count_exact: false });
    expect(await list("secret_type=json")).toMatchObject({ total_count: bound, total_count_exact: false });
    expect(await list("limit=4")).toMatchObject({ total_count: bound, total_count_exact: false, has_more: true });
  });

  it("a prefix is a prefix of the path's characters: neighbours in the order stay out", async () => {
    const paths = async (query: string) => (await list(query)).secrets.map((s: { path: string }) => s.path);
    expect(await paths("prefix=app/")).toEqual(["app/a", "app/b", "app/c", "app/d", "app/e"]);
    expect(await paths("prefix=app")).toEqual(["app-x/a", "app/a", "app/b", "app/c", "app/d", "app/e", "apple"]);
    expect(await paths("prefix=app/e")).toEqual(["app/e"]);
    expect(await paths("prefix=app/ee")).toEqual([]);
    expect(await list("prefix=zzz")).toMatchObject({ total_count: 0, total_count_exact: true, secrets: [] });
  });

  it("answers the same over Connect", async () => {
    const res = await fetch(`${tv.baseUrl}/scaivault.v1.SecretsService/ListSecrets`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ prefix: "app/" }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ total_count: bound, total_count_exact: false });
  });

  it("the CLI shows a lower bound with a plus (10,000+ at the default bound)", async () => {
    const run = async (args: string[]) => {
      let stdout = "";
      const stdin = Object.assign(new PassThrough(), { isTTY: false });
      const env = { SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: token, SCAIVAULT_CONFIG: join(home, "config.json") };
      const code = await runCli(commands, args, { stdout: (t) => (stdout += t), stderr: () => {}, stdin, env });
      return { code, stdout };
    };
    const over = await run(["secrets", "list", "--prefix", "app/"]);
    expect(over.code).toBe(0);
    expect(over.stdout.trim().split("\n").pop()).toBe(`5 of ${bound}+ matching secrets`);
    const under = await run(["secrets", "list", "--prefix", "db/"]);
    expect(under.stdout.trim().split("\n").pop()).toBe("3 of 3 matching secrets");
  });
});
