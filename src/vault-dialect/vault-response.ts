import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { contractCodeOf, type ErrorCode } from "../errors.js";
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

/** An error as a client of Vault expects it: `{"errors": [...]}`. */
export function vaultErrors(status: number, errors: string[]): UniversalServerResponse {
  return jsonResponse(status, { errors });
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

/** Vault's wording for the cases clients branch on. */
export const vaultMessages = {
  permissionDenied: "permission denied",
  unsupportedOperation: "1 error occurred:\n\t* unsupported operation\n\n",
  unsupportedPath: "1 error occurred:\n\t* unsupported path\n\n",
  casMismatch: "check-and-set parameter did not match the current version",
} as const;

/** Contract codes and the Vault status they become; anything missing is a 400 with the message. */
const statusOf: Partial<Record<ErrorCode, number>> = {
  unauthenticated: 403,
  access_denied: 403,
  not_found: 404,
  secret_not_found: 404,
  version_not_found: 404,
  secret_expired: 404,
  method_not_allowed: 405,
  version_conflict: 400,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
  deadline_exceeded: 504,
};

/**
 * The one place where an error becomes the Vault dialect's answer. A bad token and a missing
 * scope are both Vault's bare `permission denied`; a missing secret or version is `{"errors": []}`
 * as Vault sends it; a check-and-set mismatch is Vault's 400; unknown errors never show their text.
 */
export function vaultErrorAnswer(err: unknown): { response: UniversalServerResponse; code: ErrorCode } {
  const { code, message } = contractCodeOf(err);
  const status = statusOf[code] ?? 400;
  let errors: string[];
  if (status === 403) errors = [vaultMessages.permissionDenied];
  else if (status === 404) errors = [];
  else if (code === "version_conflict") errors = [vaultMessages.casMismatch];
  else if (code === "method_not_allowed") errors = [vaultMessages.unsupportedOperation];
  else if (status >= 500) errors = [code === "internal" ? "internal error" : message];
  else errors = [message];
  return { response: vaultErrors(status, errors), code };
}
