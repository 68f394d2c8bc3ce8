import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { clientRequestIdKey, requestIdKey } from "../auth/principal.js";
import type { Logger } from "../log.js";
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
    try {
      const res = await next(req);
      // One line per call with its request id; never a value or a token.
      logger.info("call", { ...context, code: "ok", ms: Math.round((performance.now() - started) * 10) / 10 });
      if (!res.stream) return res;
      return { ...res, message: translateErrors(res.message, logger, context) };
    } catch (err) {
      const error = contractError(err, logger, context);
      logger.info("call", { ...context, code: contractOf(error).code, ms: Math.round((performance.now() - started) * 10) / 10 });
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
