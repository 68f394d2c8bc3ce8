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

/** A query parameter is named back only when it looks like a parameter name: any other may be request content. */
const paramName = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/**
 * Reports query parameters the operation does not read as Vault does: a warning
 * `Endpoint ignored these unrecognized parameters: [a b]` in the envelope, a 204 becoming a 200
 * that carries it. Errors and the bare answers (`sys/health`) are left as they are, as Vault's.
 */
export function withIgnoredParams(res: UniversalServerResponse, requestId: string, ignored: readonly string[]): UniversalServerResponse {
  if (ignored.length === 0) return res;
  const names = ignored.map((n) => (paramName.test(n) ? n : "(not shown)"));
  const warning = `Endpoint ignored these unrecognized parameters: [${names.join(" ")}]`;
  if (res.status === 204) return vaultData(requestId, null, { warnings: [warning] });
  const bytes = res.status === 200 && res.body && "bytes" in res.body ? (res.body.bytes as Uint8Array) : undefined;
  if (!bytes) return res;
  const body = JSON.parse(new TextDecoder().decode(bytes)) as JsonObject;
  if (!("warnings" in body) || !("request_id" in body)) return res;
  const warnings = Array.isArray(body.warnings) ? [...body.warnings, warning] : [warning];
  return jsonResponse(200, { ...body, warnings }, res.header);
}
