import { ScaiVaultError } from "../errors.js";

// Checks made on a request before it is routed, so that what the URL parser or Connect's handler
// would do with a hostile request never decides what runs.

/**
 * Why the raw request target's path is refused, or undefined. Decided on the target as sent:
 * a URL parser resolves `.` and `..` segments (raw or as `%2E`) before routing, so
 * `/v1/secrets/x/../../audit/events` would reach another route. Empty segments (`a//b`, a
 * trailing slash) are refused too; only `/` itself may end in a slash.
 */
export function rawPathProblem(url: string): string | undefined {
  const path = rawPathOf(url);
  if (path === "/" || path === "") return undefined;
  const segments = path.slice(1).split("/");
  // Outside the API a trailing slash is the page's own business (`/docs/` redirects to `/docs`).
  const lastMayBeEmpty = !path.startsWith("/v1/");
  for (const [i, segment] of segments.entries()) {
    if (segment === "" && !(lastMayBeEmpty && i === segments.length - 1)) return "the path must not contain an empty segment (a double or trailing slash)";
    if (/^(?:\.|%2e){1,2}$/i.test(segment)) return "the path must not contain . or .. segments";
  }
  return undefined;
}

/** The path of a request URL as the client sent it (no dot segments resolved, nothing decoded); empty when it has none. */
export function rawPathOf(url: string): string {
  const afterScheme = url.indexOf("://");
  const start = url.indexOf("/", afterScheme < 0 ? 0 : afterScheme + 3);
  if (start < 0) return "";
  let end = url.length;
  for (const stop of ["?", "#"]) {
    const at = url.indexOf(stop, start);
    if (at >= 0 && at < end) end = at;
  }
  return url.slice(start, end);
}

/** Tenant ids as tokens and the registry carry them. */
const tenantIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

/** The tenant of a `/v1/t/{tenant_id}/` prefix, decoded and checked; throws `invalid_request` for anything that is not a tenant id. */
export function prefixTenantOf(encoded: string): string {
  let tenant: string;
  try {
    tenant = decodeURIComponent(encoded);
  } catch {
    tenant = "";
  }
  // Checked here, before it becomes a header value: `Headers` trims whitespace, so `%0A` would
  // otherwise become an empty header and the call would act on the caller's own tenant.
  if (!tenantIdPattern.test(tenant)) throw new ScaiVaultError("invalid_request", "the tenant in /v1/t/{tenant_id}/ must be 1-128 characters of A-Z a-z 0-9 . _ -");
  return tenant;
}
