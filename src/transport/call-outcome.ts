import { Code, ConnectError } from "@connectrpc/connect";
import { errorCodeOf } from "../errors.js";

// How a call ended, as the call log line and the call metrics name it: `ok`, the contract code
// of its error, or `canceled` when the client went away. A client leaving is not the service
// failing, so it is never `internal` (nor the `unavailable` its gRPC code maps to).

/** The one reason a call is cancelled by its transport, whatever the runtime's own reason said. */
export function clientWentAway(reason: unknown): ConnectError {
  return new ConnectError("the client went away", Code.Canceled, undefined, undefined, reason);
}

/** Why a call whose signal aborted ended: the deadline's error, or the client going away. */
export function abortedCallError(signal: AbortSignal): ConnectError {
  return signal.reason instanceof ConnectError ? signal.reason : clientWentAway(signal.reason);
}

/** The outcome of a call that ended with `err` (undefined: it succeeded). */
export function callOutcomeOf(err: unknown): string {
  if (err === undefined) return "ok";
  if (err instanceof ConnectError && err.code === Code.Canceled) return "canceled";
  return errorCodeOf(err);
}

/**
 * A streamed response that reports how it ended, once: the error it failed with, else
 * `canceled` (or the deadline) when the call's signal aborted before the stream finished, else
 * ok. `signal` is read only then (making it may cost an AbortController).
 */
export function reportingEnd<T>(messages: AsyncIterable<T>, signal: () => AbortSignal, onEnd: (outcome: string) => void): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      let failure: unknown;
      try {
        yield* messages;
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        const callSignal = signal();
        if (failure === undefined && callSignal.aborted) failure = abortedCallError(callSignal);
        onEnd(callOutcomeOf(failure));
      }
    },
  };
}
