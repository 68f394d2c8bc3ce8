import { cors as connectCors } from "@connectrpc/connect";
import type { UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { requestIdHeader, targetTenantHeader } from "./http-headers.js";

/**
 * CORS for browser apps on other origins (the client's connect-web entry, fetch from a SPA).
 * Only the configured origins get the headers; `*` allows any origin. Credentials are bearer
 * tokens in a header, never cookies, so no `Allow-Credentials`.
 */
export interface Cors {
  /** The answer to a preflight from an allowed origin, or undefined when this is not one. */
  preflight(req: UniversalServerRequest): UniversalServerResponse | undefined;
  /** Adds the response headers an allowed origin needs to read the answer. */
  decorate(req: UniversalServerRequest, header: Headers): void;
}

const allowMethods = [...new Set([...connectCors.allowedMethods, "GET", "POST", "PUT", "PATCH", "DELETE"])].join(", ");
const allowHeaders = [...new Set([...connectCors.allowedHeaders, "Authorization", requestIdHeader, targetTenantHeader])].join(", ");
const exposeHeaders = [...new Set([...connectCors.exposedHeaders, requestIdHeader])].join(", ");

/** Creates the CORS policy for the given origins (exact `scheme://host[:port]`, or `*`). */
export function createCors(origins: readonly string[]): Cors {
  const any = origins.includes("*");
  const allowed = (req: UniversalServerRequest) => {
    const origin = req.header.get("origin");
    return origin && (any || origins.includes(origin)) ? origin : undefined;
  };
  return {
    preflight(req) {
      const origin = allowed(req);
      if (req.method !== "OPTIONS" || !origin || !req.header.has("access-control-request-method")) return undefined;
      const header = new Headers({
        "access-control-allow-origin": origin,
        "access-control-allow-methods": allowMethods,
        "access-control-allow-headers": allowHeaders,
        "access-control-max-age": "7200",
        vary: "Origin",
      });
      return { status: 204, header };
    },
    decorate(req, header) {
      const origin = allowed(req);
      if (!origin) return;
      header.set("access-control-allow-origin", origin);
      header.set("access-control-expose-headers", exposeHeaders);
      header.append("vary", "Origin");
    },
  };
}
