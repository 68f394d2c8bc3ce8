/**
 * The floor: a bare node:http server doing exactly a secret read's essential work per request —
 * jose HS256 verify of the bearer token, one indexed SELECT through pg, AES-256-GCM decrypt,
 * JSON.stringify — and the ceiling: the same server answering a fixed JSON at /fixed. A bare
 * node:http2 server answering every gRPC call with one fixed message is the gRPC ceiling: what
 * the gRPC load generator reaches when the server costs next to nothing.
 * ScaiVault's read path is measured against these two in one run.
 *
 * The write floor: `PUT /v1/secrets/{path}` with a JSON body `{data}` does a write's essential
 * work — the same token verify, JSON.parse, AES-256-GCM seal bound to the new version, and one
 * transaction of six round trips (BEGIN; bump the secret's version; insert the version; one
 * audit row; one event row; COMMIT). No CAS, pruning, rotation bookkeeping or watch ordering:
 * what any durable, audited write must do at least.
 */
import { createServer } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import { jwtVerify } from "jose";
import pg from "pg";
import { randomBytes } from "node:crypto";
import { open, seal, secretAad, unwrapDataKey } from "../src/crypto/envelope.js";
import { masterKeyFromBytes } from "../src/crypto/master-key.js";

const url = process.env.DATABASE_URL!;
const secret = new TextEncoder().encode(process.env.SCAIVAULT_JWT_SECRET!);
const master = masterKeyFromBytes(Buffer.from(process.env.SCAIVAULT_MASTER_KEY!, "base64"));
const pool = new pg.Pool({ connectionString: url, max: Number(process.env.SCAIVAULT_DB_POOL_SIZE ?? 10) });

// Data keys are unwrapped once, as any server would.
const keys = new Map<string, Buffer>();
const newestKey = new Map<string, number>();
for (const row of (await pool.query("select tenant_id, key_id, wrapped_key from data_keys")).rows) {
  keys.set(`${row.tenant_id}\0${row.key_id}`, unwrapDataKey(master, row.tenant_id, row.key_id, row.wrapped_key));
  newestKey.set(row.tenant_id, Math.max(newestKey.get(row.tenant_id) ?? 0, row.key_id));
}
const fixed = JSON.stringify({ path: "fixed", version: 1, data: { password: "fixed" } });

const server = createServer(async (req, res) => {
  if (req.url === "/fixed") {
    res.writeHead(200, { "content-type": "application/json" }).end(fixed);
    return;
  }
  if (req.method === "PUT") {
    await write(req, res);
    return;
  }
  try {
    const token = (req.headers.authorization ?? "").slice(7);
    const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], requiredClaims: ["exp"] });
    const tenant = payload.tenant_id as string;
    const path = decodeURIComponent(req.url!.slice("/v1/secrets/".length));
    const { rows } = await pool.query(
      "select s.current_version, v.key_id, v.nonce, v.ciphertext from secrets s join secret_versions v on v.secret_id = s.id and v.version = s.current_version where s.tenant_id = $1 and s.path = $2",
      [tenant, path],
    );
    if (rows.length === 0) {
      res.writeHead(404).end();
      return;
    }
    const r = rows[0];
    const plain = open(keys.get(`${tenant}\0${r.key_id}`)!, r.nonce, r.ciphertext, secretAad(tenant, path, r.current_version));
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path, version: r.current_version, data: JSON.parse(plain.toString("utf8")) }));
  } catch {
    res.writeHead(401).end();
  }
});
server.keepAliveTimeout = 60_000;

async function write(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let payload;
  try {
    ({ payload } = await jwtVerify((req.headers.authorization ?? "").slice(7), secret, { algorithms: ["HS256"], requiredClaims: ["exp"] }));
  } catch {
    res.writeHead(401).end();
    return;
  }
  const tenant = payload.tenant_id as string;
  const path = decodeURIComponent(req.url!.slice("/v1/secrets/".length));
  const { data } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { data: unknown };
  const client = await pool.connect();
  try {
    await client.query("begin");
    const bumped = await client.query("update secrets set current_version = current_version + 1, updated_at = now() where tenant_id = $1 and path = $2 returning id, current_version", [tenant, path]);
    const row = bumped.rows[0];
    if (!row) {
      await client.query("rollback");
      res.writeHead(404).end();
      return;
    }
    const keyId = newestKey.get(tenant)!;
    const sealed = seal(keys.get(`${tenant}\0${keyId}`)!, Buffer.from(JSON.stringify(data)), secretAad(tenant, path, row.current_version));
    await client.query("insert into secret_versions (secret_id, version, key_id, nonce, ciphertext, created_at, created_by) values ($1, $2, $3, $4, $5, now(), $6)", [
      row.id,
      row.current_version,
      keyId,
      sealed.nonce,
      sealed.ciphertext,
      payload.sub,
    ]);
    await client.query(
      "insert into audit_events (time, request_id, actor, acting_tenant, target_tenant, action, path, version, outcome) values (now(), $1, $2, $3, $3, 'PutSecret', $4, $5, 'allowed')",
      [randomBytes(8).toString("hex"), payload.sub, tenant, path, row.current_version],
    );
    await client.query("insert into events (id, tenant_id, event_type, path, data, created_at) values ($1, $2, 'secret.updated', $3, $4, now())", [
      `evt_${randomBytes(16).toString("hex")}`,
      tenant,
      path,
      JSON.stringify({ version: row.current_version }),
    ]);
    await client.query("commit");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path, version: row.current_version, created: false, previous_version: row.current_version - 1 }));
  } catch (err) {
    await client.query("rollback").catch(() => {});
    process.stderr.write(`floor write failed: ${String(err)}\n`);
    res.writeHead(500).end();
  } finally {
    client.release();
  }
}

// scaivault.v1.Secret { path: "fixed", version: 1 } in gRPC's length-prefixed framing.
const fixedSecret = Buffer.from([0x0a, 0x05, ...Buffer.from("fixed"), 0x10, 0x01]);
const fixedGrpc = Buffer.concat([Buffer.from([0, 0, 0, 0, fixedSecret.length]), fixedSecret]);
const grpcServer = createHttp2Server();
grpcServer.on("stream", (stream) => {
  stream.resume();
  stream.on("end", () => {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(fixedGrpc);
  });
});

const portOf = (s: { address(): unknown }) => {
  const address = s.address();
  return typeof address === "object" && address ? (address as { port: number }).port : 0;
};
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", resolve));
await new Promise<void>((resolve) => grpcServer.listen(0, "127.0.0.1", resolve));
process.stdout.write(JSON.stringify({ port: portOf(server), grpcPort: portOf(grpcServer) }) + "\n");
process.on("SIGTERM", () => {
  grpcServer.close();
  server.close(() => pool.end().then(() => process.exit(0)));
});
