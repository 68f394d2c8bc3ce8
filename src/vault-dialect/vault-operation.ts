import type { JsonObject } from "@bufbuild/protobuf";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { CallContext } from "../auth/principal.js";
import type { Requirement } from "./vault-auth.js";
import type { VaultMount } from "./vault-mounts.js";

/** One request of the Vault dialect as a handler sees it. */
export interface VaultRequest {
  req: UniversalServerRequest;
  url: URL;
  call: CallContext;
  /** The mount the path names (KV routes only). */
  mount?: VaultMount;
  /** The ScaiVault path the request names: the mount's prefix and the path after `data/`, `metadata/`, ... */
  path: string;
  /** The JSON object the request carries (`{}` when it has no body). */
  body(): Promise<JsonObject>;
  /** The request id, as Vault's envelope carries it. */
  requestId: string;
}

/** What a route resolves to: the audited action, who may call it, and the thin handler. */
export interface VaultOperation {
  /** Audited as the call's action: `vault.` and Vault's name for it, so the dialect shows in the audit log. */
  action: string;
  need: Requirement | "public";
  /** The query parameters it reads, as Vault names them; any other is reported back in Vault's `warnings`. */
  query?: readonly string[];
  run(r: VaultRequest): Promise<UniversalServerResponse>;
}
