import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ScaiVaultError } from "../../clients/typescript/src/errors.js";

// The suite runs on every release in .ci/node-releases (and the machine's own). These tests pin
// down the runtime behaviour that ScaiVault and its client lean on and that has changed between
// releases before: abort signals, fetch's (undici's) failure shapes, WebCrypto.

const root = new URL("../../", import.meta.url);
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** `>=X.Y.Z` ranges only: what package.json's engines uses. */
function admits(range: string, version: string): boolean {
  const floor = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (!floor) throw new Error(`engines range ${range} is not of the form >=X.Y.Z`);
  const have = version.replace(/^v/, "").split(".").map(Number);
  const want = floor.slice(1).map(Number);
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i]! > want[i]!;
  return true;
}

describe("the Node.js releases ScaiVault is tested on", () => {
  it("are all admitted by engines, in the service and in the client package", () => {
    const releases = readFileSync(new URL(".ci/node-releases", root), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    expect(releases.length).toBeGreaterThanOrEqual(2);
    for (const manifest of ["package.json", "clients/typescript/package.json"]) {
      const range: string = JSON.parse(readFileSync(new URL(manifest, root), "utf8")).engines.node;
      for (const release of releases) expect(admits(range, release), `${manifest} engines ${range} vs ${release}`).toBe(true);
      expect(admits(range, "20.20.2"), `${manifest} must not claim the end-of-life Node.js 20`).toBe(false);
    }
  });

  it("combine abort signals so that a deadline aborts with a TimeoutError and a cancel keeps its own reason", async () => {
    const client = new AbortController();
    const withDeadline = AbortSignal.any([client.signal, AbortSignal.timeout(20)]);
    const reason = await new Promise<unknown>((resolve) => withDeadline.addEventListener("abort", () => resolve(withDeadline.reason)));
    expect((reason as Error).name).toBe("TimeoutError");
    expect(client.signal.aborted).toBe(false);

    const cancelled = new AbortController();
    const combined = AbortSignal.any([cancelled.signal, AbortSignal.timeout(60_000)]);
    cancelled.abort(new Error("client went away"));
    expect(combined.aborted).toBe(true);
    expect((combined.reason as Error).message).toBe("client went away");
  });

  it("report a refused connection through fetch as something the client reads as unavailable", async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    servers.splice(servers.indexOf(closed), 1);
    const err = await fetch(`http://127.0.0.1:${port}/v1/secrets/x`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(ScaiVaultError.from(err).code).toBe("unavailable");
  });

  it("report a connection cut before the answer through fetch as something the client reads as unavailable", async () => {
    const port = await listen(createNetServer((socket) => socket.once("data", () => socket.destroy())));
    const err = await fetch(`http://127.0.0.1:${port}/v1/secrets/x`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect(ScaiVaultError.from(err).code).toBe("unavailable");
  });

  it("keep a fetch body readable as a stream to its end, and abort a body read when asked", async () => {
    const port = await listen(
      createHttpServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.write(Buffer.alloc(64 * 1024, 1));
        setTimeout(() => res.end(Buffer.alloc(64 * 1024, 2)), 20);
      }),
    );
    const whole = new Uint8Array(await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer());
    expect(whole.length).toBe(128 * 1024);
    expect(whole[whole.length - 1]).toBe(2);

    const reading = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: reading.signal });
    reading.abort();
    const err = await res.arrayBuffer().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe("AbortError");
  });

  it("verify an HMAC-SHA256 through WebCrypto on globalThis, as the client's webhook check does", async () => {
    const keyBytes = new TextEncoder().encode("whsec-test-key-of-32-bytes-length!");
    const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    const message = new TextEncoder().encode("msg_1.1700000000.{}");
    const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
    expect(signature.length).toBe(32);
    expect(await crypto.subtle.verify("HMAC", key, signature, message)).toBe(true);
    signature[0] ^= 1;
    expect(await crypto.subtle.verify("HMAC", key, signature, message)).toBe(false);
  });
});
