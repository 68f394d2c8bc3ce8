import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { clientRequestIdKey, requestIdKey } from "../auth/principal.js";
import type { Logger } from "../log.js";
import { callOutcomeOf, reportingEnd } from "./call-outcome.js";
import { connectErrorOf, contractOf } from "./error-edge.js";

/**
 * The outermost interceptor: whatever escapes a handler or another interceptor leaves as the
 * contract's ConnectError (ErrorInfo reason = code). Handlers may simply throw ScaiVaultError.
 * Unknown errors become `internal`: the cause is logged, never sent, on every protocol.
 */
export function createErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const clientRequestId = req.contextValues.get(clientRequestIdKey);
    const context = {
      requestId: req.contextValues.get(requestIdKey),
      ...(clientRequestId ? { clientRequestId } : {}),
      procedure: `${req.service.typeName}/${req.method.name}`,
    };
    const started = performance.now();
    // One line per call with its request id and how it ended; never a value or a token. A
    // stream's line comes when it ends.
    const logCall = (code: string) => logger.info("call", { ...context, code, ms: Math.round((performance.now() - started) * 10) / 10 });
    try {
      const res = await next(req);
      if (!res.stream) {
        logCall("ok");
        return res;
      }
      return { ...res, message: reportingEnd(translateErrors(res.message, logger, context), () => req.signal, logCall) };
    } catch (err) {
      const error = contractError(err, logger, context);
      logCall(callOutcomeOf(error));
      throw error;
    }
  };
}

async function* translateErrors<T>(messages: AsyncIterable<T>, logger: Logger, context: LogContext): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    throw contractError(err, logger, context);
  }
}

type LogContext = { requestId: string; clientRequestId?: string; procedure: string };

function contractError(err: unknown, logger: Logger, context: LogContext): ConnectError {
  const error = connectErrorOf(err, context.requestId, (cause) => logger.error("call failed", { ...context, code: "internal", err: cause }));
  const contract = contractOf(error);
  if (contract.code === "unavailable" && !(err instanceof ConnectError)) logger.warn("call failed", { ...context, code: contract.code, err: contract.cause ?? contract });
  return error;
}
