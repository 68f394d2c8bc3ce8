import type { JsonObject } from "@bufbuild/protobuf";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { requestIdKey } from "../auth/principal.js";
import { ScaiVaultError } from "../errors.js";
import { vaultErrorAnswer, vaultErrors, vaultMessages } from "../transport/error-edge.js";
import { readRequestBytes, isByteStream } from "../transport/universal-io.js";
import { auditFailure, authenticate, newCall, type VaultAuthDeps } from "./vault-auth.js";
import { kvOperations, type VaultKvDeps } from "./vault-kv-handlers.js";
import { findMount, type VaultMount } from "./vault-mounts.js";
import type { VaultOperation, VaultRequest } from "./vault-operation.js";
import { withIgnoredParams } from "./vault-response.js";
import { sysOperations, type VaultSysDeps } from "./vault-sys-handlers.js";

export interface VaultDialectDeps extends VaultAuthDeps, VaultKvDeps, Omit<VaultSysDeps, "db" | "clock"> {
  maxBodyBytes: number;
}

/** HashiCorp Vault's KV v2 HTTP API over the same store, auth, audit and events as the native API. */
export interface VaultDialect {
  /** Whether the raw path (as sent, dot segments unresolved) is the dialect's: `/v1/sys/`, `/v1/auth/`, or `/v1/` and a configured mount. */
  serves(rawPath: string): boolean;
  /** Serves a request whose raw path it serves; `url` gives the query. */
  handle(req: UniversalServerRequest, rawPath: string, url: URL): Promise<UniversalServerResponse>;
}

/** A route: the operation and the ScaiVault path it acts on. */
type Resolved = { op: VaultOperation; path: string; mount?: VaultMount } | { error: UniversalServerResponse };

const unsupportedPath = (): Resolved => ({ error: vaultErrors(404, [vaultMessages.unsupportedPath]) });
const unsupportedOperation = (): Resolved => ({ error: vaultErrors(405, [vaultMessages.unsupportedOperation]) });

/** Vault's methods as operations: `LIST`, or `GET ?list=true` as the Go client sends it; PUT and POST are both writes. */
function operationMethod(method: string, url: URL): string {
  if (method === "GET" && /^(?:true|1|t)$/i.test(url.searchParams.get("list") ?? "")) return "LIST";
  return method === "HEAD" ? "GET" : method;
}

/** The query parameters of the request that the operation does not read (Vault warns about them and goes on). */
function ignoredParams(op: VaultOperation, url: URL): string[] {
  return [...new Set(url.searchParams.keys())].filter((name) => !(op.query ?? []).includes(name));
}

/** The segments after `/v1/`, decoded; undefined for `.`, `..` or an empty segment anywhere but the end. */
function segmentsOf(pathname: string): { segments: string[]; trailingSlash: boolean } | undefined {
  const rest = pathname.slice("/v1/".length);
  const trailingSlash = rest.endsWith("/");
  const raw = (trailingSlash ? rest.slice(0, -1) : rest).split("/");
  const segments: string[] = [];
  for (const s of raw) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      return undefined;
    }
    if (decoded === "" || decoded === "." || decoded === ".." || decoded.includes("/")) return undefined;
    segments.push(decoded);
  }
  return { segments, trailingSlash };
}

export function createVaultDialect(deps: VaultDialectDeps): VaultDialect {
  const sys = sysOperations(deps);
  const kv = kvOperations(deps);
  const byMethod = (ops: Record<string, VaultOperation>, method: string): Resolved => {
    const op = Object.hasOwn(ops, method) ? ops[method] : undefined;
    return op ? { op, path: "" } : unsupportedOperation();
  };

  function resolveSys(method: string, segments: string[]): Resolved {
    const path = segments.join("/");
    if (path === "sys/health") return byMethod({ GET: sys.health }, method);
    if (path === "sys/seal-status") return byMethod({ GET: sys.sealStatus }, method);
    if (path === "sys/mounts") return byMethod({ GET: sys.mounts }, method);
    if (segments[1] === "internal" && segments[2] === "ui" && segments[3] === "mounts" && segments.length > 4) {
      const r = byMethod({ GET: sys.uiMount }, method);
      return "op" in r ? { ...r, path: segments.slice(4).join("/") } : r;
    }
    if (path === "auth/token/lookup-self") return byMethod({ GET: sys.lookupSelf, POST: sys.lookupSelf }, method);
    if (path === "auth/token/renew-self") return byMethod({ POST: sys.renewSelf, PUT: sys.renewSelf }, method);
    return unsupportedPath();
  }

  function resolveKv(mount: VaultMount, method: string, segments: string[], trailingSlash: boolean): Resolved {
    const [part, ...rest] = segments.slice(1);
    const ops = part !== undefined && Object.hasOwn(kv, part) ? kv[part] : undefined;
    if (!ops) return unsupportedPath();
    const op = Object.hasOwn(ops, method) ? ops[method] : undefined;
    if (!op) return unsupportedOperation();
    const inner = rest.join("/");
    if (part === "config") return inner === "" ? { op, mount, path: "" } : unsupportedPath();
    if (method === "LIST") return { op, mount, path: mount.prefix + (inner ? `${inner}/` : "") };
    if (inner === "" || trailingSlash) return unsupportedPath();
    return { op, mount, path: mount.prefix + inner };
  }

  function resolve(req: UniversalServerRequest, rawPath: string, url: URL): Resolved {
    const parsed = segmentsOf(rawPath);
    if (!parsed || parsed.segments.length === 0) return unsupportedPath();
    const method = operationMethod(req.method, url);
    const first = parsed.segments[0]!;
    if (first === "sys" || first === "auth") return resolveSys(method, parsed.segments);
    const mount = findMount(deps.mounts, first);
    return mount ? resolveKv(mount, method, parsed.segments, parsed.trailingSlash) : unsupportedPath();
  }

  async function bodyOf(req: UniversalServerRequest): Promise<JsonObject> {
    if (!isByteStream(req.body)) return (req.body ?? {}) as JsonObject;
    const bytes = await readRequestBytes(req.body, { maxBytes: deps.maxBodyBytes, lengthHint: req.header.get("content-length") }, "request body");
    if (bytes.byteLength === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      throw new ScaiVaultError("invalid_request", "failed to parse JSON input");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new ScaiVaultError("invalid_request", "the request body must be a JSON object");
    return parsed as JsonObject;
  }

  async function handle(req: UniversalServerRequest, rawPath: string, url: URL): Promise<UniversalServerResponse> {
    const resolved = resolve(req, rawPath, url);
    if ("error" in resolved) return resolved.error;
    const { op, path, mount } = resolved;
    const call = newCall(req, op.action);
    const r: VaultRequest = { req, url, call, mount, path, body: () => bodyOf(req), requestId: req.contextValues!.get(requestIdKey) };
    try {
      if (op.need !== "public") await authenticate(deps, req, call, op.need);
      const res = withIgnoredParams(await op.run(r), r.requestId, ignoredParams(op, url));
      return req.method === "HEAD" ? { ...res, body: undefined } : res;
    } catch (err) {
      const { response, code } = vaultErrorAnswer(err, (cause) => deps.logger.error("request failed", { requestId: r.requestId, err: cause }));
      if (op.need !== "public") await auditFailure(deps, call, code, path || undefined);
      return response;
    }
  }

  const prefixes = ["sys", "auth", ...deps.mounts.map((m) => m.name)].map((name) => `/v1/${name}/`);
  return {
    serves: (path) => prefixes.some((p) => path.startsWith(p)) || path === "/v1/sys" || path === "/v1/auth",
    handle,
  };
}
