// Bearer-token access control for RPCs (see access/procedure-access.ts for the rules).
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { bearerToken, verifyToken, type ApiToken } from "../access/api-tokens.js";
import { accessOf, mayCall } from "../access/procedure-access.js";
import { identityKey } from "./request-context.js";

/** `tokens` undefined means access control is off: every RPC is allowed and the caller is anonymous. */
export function accessInterceptor(tokens: readonly ApiToken[] | undefined): Interceptor {
  return (next) => async (request) => {
    if (!tokens) return next(request);
    const access = accessOf(request.service.typeName, request.method.name);
    if (access === "open") return next(request);
    const presented = bearerToken(request.header.get("authorization"));
    if (presented === undefined) {
      throw new ConnectError("this server needs a token: send the header Authorization: Bearer <token>", Code.Unauthenticated);
    }
    const identity = verifyToken(tokens, presented);
    if (!identity) throw new ConnectError("the bearer token is not one this server knows", Code.Unauthenticated);
    request.contextValues.set(identityKey, identity);
    if (!mayCall(identity, access)) {
      throw new ConnectError(
        `token "${identity.name}" has role ${identity.role}; ${request.service.typeName}/${request.method.name} changes data and needs role admin`,
        Code.PermissionDenied,
      );
    }
    return next(request);
  };
}
