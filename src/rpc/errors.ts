// The one mapping from Tally's errors to gRPC status codes. Unknown errors become Internal, logged
// with their cause and never sent to the client.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { TallyError, type TallyErrorCode } from "../domain/tally-error.js";
import type { Logger } from "../logger.js";
import { toTallyError } from "../store/pg-error.js";

const codeOf: Record<TallyErrorCode, Code> = {
  InvalidArgument: Code.InvalidArgument,
  NotFound: Code.NotFound,
  AlreadyExists: Code.AlreadyExists,
  FailedPrecondition: Code.FailedPrecondition,
  PermissionDenied: Code.PermissionDenied,
  Unauthenticated: Code.Unauthenticated,
  ResourceExhausted: Code.ResourceExhausted,
  Aborted: Code.Aborted,
  Unavailable: Code.Unavailable,
  Unimplemented: Code.Unimplemented,
  Internal: Code.Internal,
};

export function toConnectError(error: unknown, logger: Logger, procedure: string): ConnectError {
  if (error instanceof ConnectError) return error;
  const mapped = toTallyError(error);
  if (mapped instanceof TallyError) {
    if (mapped.code === "Internal" || mapped.code === "Unavailable" || mapped.code === "Aborted") {
      logger.warn({ err: mapped, cause: mapped.cause, procedure }, "rpc failed: %s", mapped.message);
    }
    return new ConnectError(mapped.message, codeOf[mapped.code]);
  }
  logger.error({ err: error, procedure }, "rpc failed with an unexpected error");
  return new ConnectError("internal error", Code.Internal);
}

/** Maps errors thrown by unary handlers. */
export function errorMappingInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      throw toConnectError(error, logger, request.url);
    }
  };
}
