// The one error type of Tally's core. Codes are named after gRPC codes and used as connect-es
// defines them: InvalidArgument is wrong whatever the state, FailedPrecondition is wrong in the
// current state. Only rpc/ turns a TallyError into a ConnectError.

export type TallyErrorCode =
  | "InvalidArgument"
  | "NotFound"
  | "AlreadyExists"
  | "FailedPrecondition"
  | "PermissionDenied"
  | "Unauthenticated"
  | "ResourceExhausted"
  | "Aborted"
  | "Unavailable"
  | "Unimplemented"
  | "Internal";

export class TallyError extends Error {
  override readonly name = "TallyError";

  constructor(
    readonly code: TallyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function invalidArgument(message: string): TallyError {
  return new TallyError("InvalidArgument", message);
}

export function notFound(message: string): TallyError {
  return new TallyError("NotFound", message);
}

export function failedPrecondition(message: string): TallyError {
  return new TallyError("FailedPrecondition", message);
}
