import { errorCodes } from "../errors.js";
import type { UniversalApp } from "../transport/universal-app.js";

/**
 * The app's fetch entry with its calls in flight counted, for the fetch-style runtimes' shutdown.
 * `Deno.serve`'s shutdown() makes the bodies of requests still arriving unreadable, so closing
 * first waits for the calls in flight (refusing new ones with `unavailable`) and only then lets
 * the runtime's server stop.
 */
export function countCalls(app: UniversalApp) {
  let inFlight = 0;
  let closing = false;
  let onIdle: (() => void) | undefined;
  return {
    async fetch(req: Request, info?: { clientAddress?: string }): Promise<Response> {
      if (closing) return shuttingDown();
      inFlight++;
      try {
        return await app.fetch(req, info);
      } finally {
        if (--inFlight === 0) onIdle?.();
      }
    },
    /** Starts draining (readiness reports not serving, new calls are refused) and resolves when no call is in flight. */
    drained(): Promise<void> {
      closing = true;
      app.drain();
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => (onIdle = resolve));
    },
  };
}

function shuttingDown(): Response {
  const body = { error: { code: "unavailable", message: "the service is shutting down", request_id: crypto.randomUUID() } };
  return new Response(JSON.stringify(body), {
    status: errorCodes.unavailable.http,
    headers: { "content-type": "application/json", connection: "close" },
  });
}
