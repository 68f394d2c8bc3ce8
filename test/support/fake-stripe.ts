import { constants, publicEncrypt, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback stand-in for the parts of Stripe's API the stripe provider uses: `GET /v1/balance`
 * (any valid key) and the v2 API keys endpoints (`GET/POST /v2/iam/api_keys`, `GET …/{id}`,
 * `POST …/{id}/expire`), which demand the app's key, a `.preview` Stripe-Version, the account's
 * Stripe-Context and an Idempotency-Key on POST (replayed like Stripe does). A created key's secret
 * is returned only encrypted to the public key in the request (RSA-OAEP, SHA-256).
 */

interface StoredKey {
  id: string;
  token: string;
  name: string;
  livemode: boolean;
  status: "active" | "expired";
  restricted: boolean;
  /** The App's own key (may call the v2 endpoints), not one of the account's keys. */
  app: boolean;
}

export interface FakeStripeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown> | undefined;
}

export interface FakeStripe {
  url: string;
  account: string;
  requests: FakeStripeRequest[];
  /** Adds a key Stripe knows (e.g. one rolled in the Dashboard). */
  seedKey(options: { livemode: boolean; name?: string; restricted?: boolean; app?: boolean }): { id: string; token: string };
  /** The account's keys, without their secrets. */
  keys(): Array<{ id: string; name: string; status: string }>;
  /** The next create is processed but answered with a 500, as a lost response would be. */
  failNextCreateAfterProcessing: boolean;
  /** Number of keys created through POST /v2/iam/api_keys. */
  created: number;
  close(): Promise<void>;
}

/** Starts the Stripe stand-in on 127.0.0.1 on a free port. */
export async function startFakeStripe(): Promise<FakeStripe> {
  const account = "acct_" + randomBytes(6).toString("hex");
  const keys = new Map<string, StoredKey>();
  const requests: FakeStripeRequest[] = [];
  const replays = new Map<string, { status: number; body: unknown }>();
  const state = { failNextCreateAfterProcessing: false, created: 0 };

  const addKey = (o: { livemode: boolean; name?: string; restricted?: boolean; app?: boolean }): StoredKey => {
    const prefix = `${o.restricted ? "rk" : "sk"}_${o.livemode ? "live" : "test"}_`;
    const key: StoredKey = {
      id: "ak_" + randomBytes(8).toString("hex"),
      token: prefix + randomBytes(24).toString("base64url"),
      name: o.name ?? "Dashboard key",
      livemode: o.livemode,
      status: "active",
      restricted: o.restricted ?? false,
      app: o.app ?? false,
    };
    keys.set(key.id, key);
    return key;
  };
  const publicView = (k: StoredKey) => ({
    id: k.id,
    object: "v2.iam.api_key",
    type: "secret",
    name: k.name,
    status: k.status,
    livemode: k.livemode,
    created: "2026-01-01T00:00:00.000Z",
    secret_key: { secret_token_redacted: `${k.token.slice(0, 8)}...${k.token.slice(-4)}` },
  });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const path = (req.url ?? "/").split("?")[0]!;
      const isV2 = path.startsWith("/v2/");
      let body: Record<string, unknown> | undefined;
      if (raw) body = isV2 ? JSON.parse(raw) : Object.fromEntries(new URLSearchParams(raw));
      requests.push({ method: req.method ?? "", path, headers: req.headers, body });

      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/json", "request-id": "req_" + randomBytes(6).toString("hex") });
        res.end(JSON.stringify(payload));
      };
      const fail = (status: number, type: string, message: string, code?: string) =>
        send(status, { error: { type, message, ...(code ? { code } : {}) } });

      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const caller = [...keys.values()].find((k) => k.token === token);
      if (!caller || caller.status !== "active") return fail(401, "invalid_request_error", "Invalid API Key provided");

      if (req.method === "GET" && path === "/v1/balance") {
        if (caller.restricted) return fail(403, "invalid_request_error", "The provided key does not have the required permissions", "secret_key_required");
        return send(200, { object: "balance", livemode: caller.livemode, available: [], pending: [] });
      }

      if (!isV2) return fail(404, "invalid_request_error", `Unrecognized request URL (${req.method}: ${path})`);
      if (!caller.app) return fail(403, "invalid_request_error", "Only an app can manage API keys");
      if (!/^\d{4}-\d{2}-\d{2}\.preview$/.test(String(req.headers["stripe-version"] ?? ""))) {
        return fail(400, "invalid_request_error", "This endpoint needs a .preview Stripe-Version");
      }
      if (req.headers["stripe-context"] !== account) return fail(403, "invalid_request_error", "Stripe-Context must name the account");
      let idempotencyKey: string | undefined;
      if (req.method === "POST") {
        idempotencyKey = String(req.headers["idempotency-key"] ?? "");
        if (!idempotencyKey) return fail(400, "invalid_request_error", "Idempotency-Key is required");
        const replay = replays.get(idempotencyKey);
        if (replay) return send(replay.status, replay.body);
      }
      const answer = (status: number, payload: unknown) => {
        if (idempotencyKey) replays.set(idempotencyKey, { status, body: payload });
        send(status, payload);
      };

      if (path === "/v2/iam/api_keys" && req.method === "GET") {
        return send(200, { data: [...keys.values()].filter((k) => !k.app).map(publicView), next_page_url: null, previous_page_url: null });
      }
      if (path === "/v2/iam/api_keys" && req.method === "POST") {
        const pem = (body?.public_key as { pem_key?: { algorithm?: string; data?: string } } | undefined)?.pem_key;
        if (body?.type !== "secret" || pem?.algorithm !== "RSA" || typeof pem.data !== "string") {
          return fail(400, "invalid_request_error", "type secret and public_key.pem_key {algorithm: RSA, data} are required");
        }
        const key = addKey({ livemode: caller.livemode, name: String(body.name ?? "") });
        state.created += 1;
        const ciphertext = publicEncrypt({ key: pem.data, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, Buffer.from(key.token)).toString("base64");
        const view = publicView(key);
        const payload = { ...view, secret_key: { ...view.secret_key, encrypted_secret: { ciphertext, format: "rsa_oaep_sha256", recipient_key_id: null } } };
        replays.set(idempotencyKey!, { status: 200, body: payload });
        if (state.failNextCreateAfterProcessing) {
          state.failNextCreateAfterProcessing = false;
          return fail(500, "api_error", "An unknown error occurred");
        }
        return send(200, payload);
      }
      const one = /^\/v2\/iam\/api_keys\/([^/]+)(\/expire)?$/.exec(path);
      const key = one ? keys.get(decodeURIComponent(one[1]!)) : undefined;
      if (!one || !key || key.app) return fail(404, "invalid_request_error", "No such api key");
      if (req.method === "GET" && !one[2]) return send(200, publicView(key));
      if (req.method === "POST" && one[2]) {
        if (key.status === "expired") return answer(400, { error: { type: "invalid_request_error", message: "The API key is already expired" } });
        key.status = "expired";
        return answer(200, publicView(key));
      }
      return fail(405, "invalid_request_error", "Method not allowed");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    account,
    requests,
    seedKey: (o) => {
      const k = addKey(o);
      return { id: k.id, token: k.token };
    },
    keys: () => [...keys.values()].filter((k) => !k.app).map((k) => ({ id: k.id, name: k.name, status: k.status })),
    get failNextCreateAfterProcessing() {
      return state.failNextCreateAfterProcessing;
    },
    set failNextCreateAfterProcessing(v: boolean) {
      state.failNextCreateAfterProcessing = v;
    },
    get created() {
      return state.created;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}
