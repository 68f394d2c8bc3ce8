import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { rawRequest } from "../reliability/raw-http.js";
import { startTestVault, type TestVault } from "../support/vault.js";

/** Sends raw bytes in the given pieces on one connection and returns everything the server sent until it closed. */
function rawExchange(port: number, pieces: string[], gapMs = 50): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("utf8")));
    socket.on("error", reject);
    socket.on("close", () => resolve(received));
    let i = 0;
    const next = () => {
      if (i >= pieces.length) return;
      socket.write(pieces[i++]!);
      setTimeout(next, gapMs);
    };
    socket.once("connect", next);
  });
}

/** The Vault dialect over plain HTTP: the paths, methods and headers Vault's clients send, on both databases. */
describe("Vault dialect over raw HTTP", () => {
  let tv: TestVault;
  let token: string;
  beforeAll(async () => {
    tv = await startTestVault();
    token = await tv.token({ tenantId: "acme", scopes: ["admin"] });
    const put = await tv.rest("POST", "/v1/secret/data/team/a", { headers: { "x-vault-token": token }, body: { data: { k: "1" } } });
    expect(put.status).toBe(200);
  });
  afterAll(async () => {
    await tv?.close();
  });

  it("takes the token from Authorization: Bearer too, and lists with GET ?list=true as the Go client does", async () => {
    const read = await tv.rest("GET", "/v1/secret/data/team/a", { token });
    expect(read.status).toBe(200);
    expect(read.body.data.data).toEqual({ k: "1" });
    const list = await tv.rest("GET", "/v1/secret/metadata/team/?list=true", { token });
    expect(list.status).toBe(200);
    expect(list.body.data.keys).toEqual(["a"]);
  });

  it("serves LIST whose request arrives in pieces, after a GET on the same kept-alive connection, and closes after it", async () => {
    const get = `GET /v1/secret/data/team/a HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${token}\r\n\r\n`;
    const list = [`LIST /v1/secret/metadata/team HTTP/1.1\r\nHost: x\r\n`, `X-Vault-Token: ${token}\r\nContent-Length: 2\r\n\r\n`, "{}"];
    const text = await rawExchange(tv.port, [get, ...list]);
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(2);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(answers[1]).toMatch(/^HTTP\/1\.1 200 /);
    expect(answers[1]).toMatch(/connection: close/i);
    expect(JSON.parse(answers[1]!.split("\r\n\r\n")[1]!).data.keys).toEqual(["a"]);
  });

  it("answers a method no route knows with 501, and LIST without a token as Vault does", async () => {
    expect(await rawExchange(tv.port, ["BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"])).toMatch(/^HTTP\/1\.1 501 /);
    expect(await rawExchange(tv.port, ["GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"])).toMatch(/^HTTP\/1\.1 400 /);
    const denied = await rawExchange(tv.port, ["LIST /v1/secret/metadata/team HTTP/1.1\r\nHost: x\r\n\r\n"]);
    expect(denied).toMatch(/^HTTP\/1\.1 403 /);
    expect(denied).toContain('{"errors":["permission denied"]}');
  });

  it("405 for a method a path does not take, 404 for a path it does not serve, 400 for bad input; dot segments never route", async () => {
    const headers = { "x-vault-token": token };
    const listData = await tv.rest("GET", "/v1/secret/data/team/a?list=true", { headers });
    expect(listData.status).toBe(405);
    expect(listData.body.errors[0]).toMatch(/unsupported operation/);
    const v1Style = await tv.rest("GET", "/v1/secret/team/a", { headers });
    expect(v1Style.status).toBe(404);
    expect(v1Style.body.errors[0]).toMatch(/unsupported path/);
    const login = await tv.rest("POST", "/v1/auth/approle/login", { body: { role_id: "x" } });
    expect(login.status).toBe(404);
    const leases = await tv.rest("GET", "/v1/sys/leases/lookup", { headers });
    expect(leases.status).toBe(404);
    const notJson = await tv.rest("POST", "/v1/secret/data/team/b", { headers, body: "{nope" });
    expect(notJson.status).toBe(400);
    const noData = await tv.rest("POST", "/v1/secret/data/team/b", { headers, body: { options: {} } });
    expect(noData.status).toBe(400);
    const badVersion = await tv.rest("GET", "/v1/secret/data/team/a?version=abc", { headers });
    expect(badVersion.status).toBe(400);
    const dots = await rawRequest(tv.port, "GET", "/v1/secret/data/../../secrets/team/a", { headers });
    expect(dots.status).toBe(404);
    expect(dots.body).toEqual({ errors: ["1 error occurred:\n\t* unsupported path\n\n"] });
    const badPath = await tv.rest("GET", "/v1/secret/data/team/a%20b", { headers });
    expect(badPath.status).toBe(400);
  });

  it("a query parameter the route does not read comes back in Vault's warnings, never dropped silently; the ones it reads do not", async () => {
    const headers = { "x-vault-token": token };
    const known = await tv.rest("GET", "/v1/secret/data/team/a?version=1", { headers });
    expect(known.body.warnings).toBeNull();
    const listed = await tv.rest("GET", "/v1/secret/metadata/team?list=true", { headers });
    expect(listed.body.warnings).toBeNull();
    const unknown = await tv.rest("GET", `/v1/secret/data/team/a?verbose=1&${encodeURIComponent("sk_live_x y")}=2`, { headers });
    expect(unknown.status).toBe(200);
    expect(unknown.body.data.data).toEqual({ k: "1" });
    expect(unknown.body.warnings).toEqual(["Endpoint ignored these unrecognized parameters: [verbose (not shown)]"]);
    // A write that answers 204 answers 200 with the warning instead, as Vault does.
    const put = await tv.rest("POST", "/v1/secret/data/team/w", { headers, body: { data: { k: "w" } } });
    expect(put.status).toBe(200);
    const deleted = await tv.rest("DELETE", "/v1/secret/data/team/w?purge=true", { headers });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ data: null, warnings: ["Endpoint ignored these unrecognized parameters: [purge]"] });
    expect((await tv.rest("GET", "/v1/secret/data/team/w", { headers })).status).toBe(404);
    expect((await tv.rest("GET", "/v1/sys/health?standbyok=true&sealedcode=204", {})).status).toBe(200);
  });

  it("HEAD sys/health answers without a body; health needs no token", async () => {
    const head = await fetch(`${tv.baseUrl}/v1/sys/health`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const plain = await tv.rest("GET", "/v1/sys/health");
    expect(plain.body.sealed).toBe(false);
  });

  it("a mount that would shadow a native route, or a malformed one, is refused at start", () => {
    expect(() => loadConfig({ SCAIVAULT_VAULT_MOUNTS: "secrets=" })).toThrow(/would shadow ScaiVault's own \/v1\/secrets\//);
    expect(() => loadConfig({ SCAIVAULT_VAULT_MOUNTS: "kv=teams" })).toThrow(/must be empty or path segments ending in \//);
    expect(loadConfig({ SCAIVAULT_VAULT_MOUNTS: "secret=,kv=teams/" }).vaultMounts).toEqual([
      { name: "secret", prefix: "" },
      { name: "kv", prefix: "teams/" },
    ]);
    expect(loadConfig({ SCAIVAULT_VAULT_MOUNTS: "off" }).vaultMounts).toEqual([]);
  });
});
