import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { clientRequestIdKey, requestIdKey } from "../auth/principal.js";
import { contractErrorOfDatabase } from "../db/database-errors.js";
import { contractCodeOf, ScaiVaultError } from "../errors.js";
import type { Logger } from "../log.js";
import { callOutcomeOf, reportingEnd } from "./call-outcome.js";
import { contractErrorOf } from "./error-answers.js";

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
  // An unreachable database is `unavailable` and input PostgreSQL refuses is `invalid_request`, never `internal`.
  if (!(err instanceof ScaiVaultError && err.code !== "internal") && !(err instanceof ConnectError)) {
    err = contractErrorOfDatabase(err) ?? err;
  }
  const error = contractErrorOf(err, context.requestId);
  const { code } = contractCodeOf(error);
  const cause = err instanceof ScaiVaultError ? (err.cause ?? err) : err;
  if (code === "unavailable" && err instanceof ScaiVaultError) logger.warn("call failed", { ...context, code, err: cause });
  // An `internal` ConnectError with ErrorInfo was logged already, closer to the handler.
  const loggedAlready = err instanceof ConnectError && err.findDetails(ErrorInfoSchema)[0]?.reason === "internal";
  if (code === "internal" && !loggedAlready) logger.error("call failed", { ...context, code, err: cause });
  return error;
}
