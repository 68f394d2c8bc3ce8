import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestVault, type TestVault } from "../support/vault.js";
import { awkwardValues, buildDist, jsonLines, runCliToEnd, sleep, startCli, waitFor } from "./delivery-support.js";

describe("scaivault agent", () => {
  let tv: TestVault;
  let token: string;
  let dir: string;
  let env: Record<string, string>;
  let awkward: Record<string, string>;
  beforeAll(async () => {
    buildDist();
    tv = await startTestVault();
    token = await tv.token({ tenantId: "agent", scopes: ["admin", "secrets:rotate"] });
    dir = await mkdtemp(join(tmpdir(), "scaivault-agent-"));
    env = { SCAIVAULT_URL: tv.baseUrl, SCAIVAULT_TOKEN: token };
    awkward = Object.fromEntries([...awkwardValues, `$(touch ${dir}/pwned)`, "'; touch " + dir + "/pwned2; '"].map((v, i) => [`field-${i}`, v]));
    await put("app/db", { password: "pw-1", "db-host": "db.internal", ...awkward });
    await put("app/api", { key: "api-1" });
  }, 180_000);
  afterAll(async () => {
    await tv?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  async function put(path: string, data: Record<string, unknown>) {
    const res = await tv.rest("PUT", `/v1/secrets/${path}`, { token, body: { data } });
    expect([200, 201]).toContain(res.status);
    return res.body.version as number;
  }
  async function writeConfig(name: string, config: unknown): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, JSON.stringify(config));
    return file;
  }
  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it("--once renders dotenv, json and template files that read back exactly, owner-only, and exits 0", async () => {
    const out = join(dir, "once");
    await writeFile(join(dir, "conf.tmpl"), 'host={{ secret "app/db" "db-host" }}\npassword={{secret "app/db" "password"}}\nliteral={{ "{{" }}\nall={{ secret "app/api" }}\n');
    const file = await writeConfig("once.json", {
      templates: [
        { destination: "once/app.env", format: "dotenv", secrets: ["app/db", "app/api"] },
        { destination: "once/db.json", format: "json", secrets: ["app/db"] },
        { destination: "once/both.json", format: "json", secrets: ["app/db", "app/api"], perms: "0640" },
        { destination: "once/conf.txt", format: "template", source: "conf.tmpl" },
        { destination: "once/inline.txt", format: "template", contents: 'k={{ secret "app/api" "key" }}' },
      ],
    });
    const run = await runCliToEnd(["agent", "--config", file, "--once"], env);
    expect(run.stderr).not.toContain("pw-1");
    expect(run.code, run.stderr).toBe(0);

    // dotenv: a POSIX shell reads every value back exactly and runs nothing.
    const shellEnv = execFileSync("/bin/sh", ["-c", `set -a; . ./app.env; exec "${process.execPath}" -e 'process.stdout.write(JSON.stringify(process.env))'`], { cwd: out, env: {} }).toString();
    const seen = JSON.parse(shellEnv);
    expect(seen).toMatchObject({ PASSWORD: "pw-1", DB_HOST: "db.internal", KEY: "api-1" });
    Object.values(awkward).forEach((v, i) => expect(seen[`FIELD_${i}`]).toBe(v));
    expect(existsSync(join(dir, "pwned")) || existsSync(join(dir, "pwned2"))).toBe(false);

    expect(JSON.parse(await readFile(join(out, "db.json"), "utf8"))).toEqual({ password: "pw-1", "db-host": "db.internal", ...awkward });
    expect(JSON.parse(await readFile(join(out, "both.json"), "utf8"))).toEqual({ "app/db": { password: "pw-1", "db-host": "db.internal", ...awkward }, "app/api": { key: "api-1" } });
    expect(await readFile(join(out, "conf.txt"), "utf8")).toBe('host=db.internal\npassword=pw-1\nliteral={{\nall={"key":"api-1"}\n');
    expect(await readFile(join(out, "inline.txt"), "utf8")).toBe("k=api-1");
    for (const name of ["app.env", "db.json", "conf.txt", "inline.txt"]) expect(await mode(join(out, name))).toBe(0o600);
    expect(await mode(join(out, "both.json"))).toBe(0o640);
    expect(await mode(out)).toBe(0o700);
    expect((await readdir(out)).sort()).toEqual(["app.env", "both.json", "conf.txt", "db.json", "inline.txt"]); // no temp files left
  }, 60_000);

  it("refuses a bad config with an error naming the field, and a missing secret before writing anything", async () => {
    const cases: Array<[unknown, string]> = [
      [{ templates: [{ destination: "x", format: "dotenv", secrets: ["app/db"], perms: "0644" }] }, "templates[0].perms must not give others any access"],
      [{ templates: [{ destinaton: "x", format: "json", secrets: ["app/db"] }] }, "templates[0].destinaton is not a field here"],
      [{ templates: [{ destination: "x", secrets: ["app/db"] }] }, "templates[0].format is required"],
      [{ templates: [{ destination: "x", format: "yaml", secrets: ["app/db"] }] }, `templates[0].format must be "dotenv", "json" or "template"`],
      [{ templates: [{ destination: "x", format: "json" }] }, `templates[0].secrets is required for format "json"`],
      [{ templates: [{ destination: "x", format: "template", contents: "a\n{{ env \"HOME\" }}" }] }, "templates[0].contents line 2:"],
      [{ templates: [{ destination: "x", format: "json", secrets: ["app/db"] }], exec: { command: [] } }, "exec.command must be a non-empty list"],
      [{ templates: [{ destination: "x", format: "json", secrets: ["app/db"] }], exec: { command: ["true"], restart_signal: "SIGNOPE" } }, "exec.restart_signal must be a signal name"],
      [{ templates: [] }, "templates must be a non-empty list"],
    ];
    for (const [config, message] of cases) {
      const run = await runCliToEnd(["agent", "--config", await writeConfig("bad.json", config), "--once"], env);
      expect(run.code, message).toBe(1);
      expect(run.stderr).toContain(message);
    }
    await writeFile(join(dir, "broken.json"), "{ not json");
    expect((await runCliToEnd(["agent", "--config", join(dir, "broken.json"), "--once"], env)).stderr).toContain("is not JSON");

    const missing = await writeConfig("missing.json", {
      templates: [
        { destination: "missing/a.env", format: "dotenv", secrets: ["app/db"] },
        { destination: "missing/b.txt", format: "template", contents: '{{ secret "app/db" "nokey" }}' },
      ],
    });
    const run = await runCliToEnd(["agent", "--config", missing, "--once"], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`the secret app/db has no key "nokey"`);
    expect(existsSync(join(dir, "missing"))).toBe(false); // not even the template that could be rendered
    const absent = await runCliToEnd(["agent", "--config", await writeConfig("absent.json", { templates: [{ destination: "absent/a.env", format: "dotenv", secrets: ["app/none"] }] }), "--once"], env);
    expect(absent.code).toBe(2);
    expect(existsSync(join(dir, "absent"))).toBe(false);
  }, 60_000);

  it("reads a config named .yaml or .yml as YAML, with the same fields and errors naming the field or the line", async () => {
    await writeFile(
      join(dir, "agent.yaml"),
      [
        "# comments are allowed",
        "templates:",
        "  - destination: yaml/app.env",
        "    format: dotenv",
        "    secrets: [app/api]",
        "  - destination: yaml/conf.txt",
        "    format: template",
        '    perms: "0640"',
        "    contents: |",
        '      key={{ secret "app/api" "key" }}',
        '      host={{ secret "app/db" "db-host" }}',
        "",
      ].join("\n"),
    );
    const run = await runCliToEnd(["agent", "--config", join(dir, "agent.yaml"), "--once"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(await readFile(join(dir, "yaml/app.env"), "utf8")).toBe("KEY='api-1'\n");
    expect(await readFile(join(dir, "yaml/conf.txt"), "utf8")).toBe("key=api-1\nhost=db.internal\n");
    expect(await mode(join(dir, "yaml/conf.txt"))).toBe(0o640);

    const bad: Array<[string, string]> = [
      ["templates:\n  - destination: x\n    format: dotenv\n    secrets: [app/db]\n    perms: 0600\n", "templates[0].perms must be a quoted string"],
      ["templates:\n  - destination: x\n    format: jsn\n    secrets: [app/db]\n", `templates[0].format must be "dotenv", "json" or "template"`],
      ["templates: []\ntemplates: []\n", "is not YAML (Map keys must be unique at line 2, column 1)"],
      ["templates:\n  - destination: x\n   format: [\n", "is not YAML ("],
    ];
    for (const [text, message] of bad) {
      await writeFile(join(dir, "bad.yml"), text);
      const failed = await runCliToEnd(["agent", "--config", join(dir, "bad.yml"), "--once"], env);
      expect(failed.code, message).toBe(1);
      expect(failed.stderr).toContain(message);
    }
  }, 60_000);

  it("re-renders on a put and a rotation, runs the command and restarts the process once per change, keeps unchanged files untouched, follows a refreshed token file", async () => {
    const out = join(dir, "live");
    await mkdir(out);
    const hooks = join(dir, "hooks.jsonl");
    const starts = join(dir, "exec-starts.jsonl");
    const tokenFile = join(dir, "token");
    // A token that expires in 8 s; once the agent runs, the file gets a fresh one, which the agent must read when the stream ends.
    const mintedAt = Date.now();
    await writeFile(tokenFile, (await tv.token({ tenantId: "agent", scopes: ["admin"], ttlSeconds: 8 })) + "\n", { mode: 0o600 });
    const hook = (name: string) => [process.execPath, "-e", `require("fs").appendFileSync(${JSON.stringify(hooks)}, JSON.stringify({ file: ${JSON.stringify(name)} }) + "\\n")`];
    const config = await writeConfig("live.json", {
      debounce: "100ms",
      templates: [
        { destination: "live/db.env", format: "dotenv", secrets: ["app/db"], command: hook("db.env") },
        { destination: "live/api.txt", format: "template", contents: 'key={{ secret "app/api" "key" }}', command: hook("api.txt") },
      ],
      exec: {
        command: [process.execPath, "-e", `require("fs").appendFileSync(${JSON.stringify(starts)}, JSON.stringify({ key: require("fs").readFileSync(${JSON.stringify(join(out, "api.txt"))}, "utf8") }) + "\\n"); process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000);`],
        restart_grace: "3s",
      },
    });
    const agent = startCli(["agent", "--config", config, "--token-file", tokenFile], { SCAIVAULT_URL: tv.baseUrl });
    const count = async (file: string, n: number, why: string) => {
      await waitFor(`${n} lines in ${file} (${why})`, async () => (await jsonLines(file)).length >= n);
      await sleep(600);
      expect((await jsonLines(file)).length, `${why}: ${agent.stderr()}`).toBe(n);
    };
    try {
      await count(starts, 1, "first start");
      await count(hooks, 2, "first render");
      await writeFile(tokenFile, (await tv.token({ tenantId: "agent", scopes: ["admin"], ttlSeconds: 600 })) + "\n");
      await sleep(Math.max(0, mintedAt + 8500 - Date.now()));
      const dbMtime = (await stat(join(out, "db.env"))).mtimeMs;

      // (The first token has expired by now: everything below runs on the one read from the refreshed file.)
      // A put of the api key: api.txt re-rendered, its command once, one restart; db.env untouched.
      await put("app/api", { key: "api-2" });
      await count(hooks, 3, "put");
      await count(starts, 2, "put");
      expect((await jsonLines(starts)).at(-1)).toEqual({ key: "key=api-2" });
      expect(await readFile(join(out, "api.txt"), "utf8")).toBe("key=api-2");

      // A rotation with a new value: the same.
      const rotated = await tv.rest("POST", "/v1/secrets/app/api/rotate", { token, body: { new_value: { key: "api-3" }, reason: "test" } });
      expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
      await count(hooks, 4, "rotation");
      await count(starts, 3, "rotation");
      expect(await readFile(join(out, "api.txt"), "utf8")).toBe("key=api-3");
      expect((await jsonLines(hooks)).map((h) => h.file)).toEqual(["db.env", "api.txt", "api.txt", "api.txt"]);

      // A new version with the same data: nothing rewritten, no command, no restart.
      await put("app/db", { password: "pw-1", "db-host": "db.internal", ...awkward });
      await count(hooks, 4, "same content");
      await count(starts, 3, "same content");
      expect((await stat(join(out, "db.env"))).mtimeMs).toBe(dbMtime);
      expect(await mode(join(out, "db.env"))).toBe(0o600);

    } finally {
      agent.child.kill("SIGTERM");
    }
    expect(await agent.exited).toBe(0);
    expect(agent.stderr()).not.toContain("api-3");
    expect(agent.stderr()).not.toContain("pw-1");
  }, 90_000);
});
