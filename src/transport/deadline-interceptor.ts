import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * Ends a unary call when its signal aborts instead of waiting for the handler: at the deadline
 * (the client's `grpc-timeout` / `connect-timeout-ms`, capped by the server's maximum, which the
 * handler context turns into a timer) the client gets DEADLINE_EXCEEDED from the server right
 * away, even if the handler is stuck on a slow query. The handler sees the same aborted signal
 * and may stop early; what it still finishes (an audit entry) is written but not answered.
 * Streaming calls (health Watch, reflection) end when their handler observes the signal.
 */
export function createDeadlineInterceptor(): Interceptor {
  return (next) => (req) => {
    if (req.stream) return next(req);
    const signal = req.signal;
    if (signal.aborted) return Promise.reject(abortReasonOf(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abortReasonOf(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      next(req).then(
        (res) => {
          signal.removeEventListener("abort", onAbort);
          resolve(res);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  };
}

/** Connect aborts with a ConnectError (DEADLINE_EXCEEDED, or CANCELED when the client left); anything else is a cancellation. */
function abortReasonOf(signal: AbortSignal): ConnectError {
  return signal.reason instanceof ConnectError ? signal.reason : new ConnectError("the call was cancelled", Code.Canceled);
}
