// A customer's system on 127.0.0.1 that speaks the webhook provider's contract: it issues a new
// credential on `rotate`, forgets one on `revoke`, and keeps the set of credentials that are
// valid, so tests can check that rotation never leaves two new ones behind nor revokes the
// current one. A `/health` route serves as the propagation check.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface EndpointRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json?: any;
}

/** What the endpoint does with one request; `undefined` = its normal behaviour. */
export type Override = (req: EndpointRequest) => { status: number; body?: string } | "hang" | undefined;

export interface CredentialEndpoint {
  url: string;
  healthUrl: string;
  requests: EndpointRequest[];
  /** Credentials currently valid at the system, by value. */
  valid: Set<string>;
  /** Every credential issued, in order. */
  issued: string[];
  /** Every credential revoked, in order (a value twice = revoked twice). */
  revoked: string[];
  /** The credentials issued for each secret path. */
  issuedFor: Map<string, string[]>;
  /** Status the health route answers. */
  healthStatus: number;
  override: Override | undefined;
  /** Requests held by a "hang" answer, resolved with `releaseHeld`. */
  held: number;
  /** Ends the held requests: `drop` destroys them (the caller died), `serve` answers them normally. */
  releaseHeld(how: "drop" | "serve"): void;
  /** Resolves once at least `n` requests are held. */
  waitHeld(n?: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts the endpoint; `secret` is what X-Webhook-Secret must carry. */
export async function startCredentialEndpoint(options: { secret: string; initial?: string[] }): Promise<CredentialEndpoint> {
  let counter = 0;
  const heldQueue: { req: EndpointRequest; res: http.ServerResponse }[] = [];
  const waiters: (() => void)[] = [];
  const endpoint: CredentialEndpoint = {
    url: "",
    healthUrl: "",
    requests: [],
    valid: new Set(options.initial ?? []),
    issued: [],
    revoked: [],
    issuedFor: new Map(),
    healthStatus: 200,
    override: undefined,
    get held() {
      return heldQueue.length;
    },
    releaseHeld(how) {
      for (const { req, res } of heldQueue.splice(0)) {
        if (how === "drop") res.socket?.destroy();
        else serve(req, res);
      }
    },
    waitHeld(n = 1) {
      return new Promise<void>((resolve) => {
        const check = () => (heldQueue.length >= n ? resolve() : waiters.push(check));
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };

  function serve(req: EndpointRequest, res: http.ServerResponse) {
    if (req.method === "GET") {
      // The rotate route takes POST only, as the prior contract's Express example does.
      if (req.url.startsWith("/health")) res.writeHead(endpoint.healthStatus).end("ok");
      else res.writeHead(405).end("method not allowed");
      return;
    }
    if (req.headers["x-webhook-secret"] !== options.secret) {
      res.writeHead(401).end("unauthorized");
      return;
    }
    if (req.json?.action === "rotate") {
      const value = `cred-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
      endpoint.valid.add(value);
      endpoint.issued.push(value);
      const forPath = endpoint.issuedFor.get(req.json.path) ?? [];
      forPath.push(value);
      endpoint.issuedFor.set(req.json.path, forPath);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ newValue: value, metadata: { n: counter } }));
      return;
    }
    if (req.json?.action === "test") {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    if (req.json?.action === "revoke") {
      endpoint.valid.delete(req.json.previousValue);
      endpoint.revoked.push(req.json.previousValue);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    res.writeHead(400).end("bad action");
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: any;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const seen: EndpointRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, json };
      endpoint.requests.push(seen);
      const override = endpoint.override?.(seen);
      if (override === "hang") {
        heldQueue.push({ req: seen, res });
        for (const w of waiters.splice(0)) w();
        return;
      }
      if (override) {
        res.writeHead(override.status, { "content-type": "application/json" }).end(override.body ?? "");
        return;
      }
      serve(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  endpoint.url = `http://127.0.0.1:${port}/rotate-secret`;
  endpoint.healthUrl = `http://127.0.0.1:${port}/health`;
  return endpoint;
}
