import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { jsonResponse } from "../transport/rest-response.js";

/** Vault's success envelope around `data`; leases do not exist here, so they are always empty. */
export function vaultData(requestId: string, data: JsonValue, extra: JsonObject = {}): UniversalServerResponse {
  return jsonResponse(200, {
    request_id: requestId,
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...extra,
  });
}

/** A bare JSON answer (`sys/health`, `sys/seal-status` are not wrapped by Vault). */
export function vaultPlain(status: number, body: JsonValue): UniversalServerResponse {
  return jsonResponse(status, body);
}

/** Vault's "nothing to say" answer to a write that returns no data. */
export function vaultNoContent(): UniversalServerResponse {
  return { status: 204, header: new Headers() };
}
