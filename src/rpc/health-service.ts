// grpc.health.v1.Health: Check, Watch and List over the services this server hosts. "" is the
// whole server. A service is SERVING while the server runs and the database answers.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/health/v1/health_pb.js";

/** How often Watch re-checks the status while a watcher is connected. */
export const healthWatchIntervalMs = 1000;

export interface HealthDeps {
  /** Fully-qualified names of the hosted services; "" is added for the whole server. */
  readonly serviceNames: readonly string[];
  /** Resolves when the server can do its work (database reachable, not shutting down). */
  readonly isServing: () => Promise<boolean>;
}

export function healthServiceImpl(deps: HealthDeps): ServiceImpl<typeof Health> {
  const known = new Set(["", ...deps.serviceNames]);
  const statusOf = async (service: string) => {
    if (!known.has(service)) return ServingStatus.SERVICE_UNKNOWN;
    return (await deps.isServing()) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  };
  return {
    async check(request) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      }
      return { status: await statusOf(request.service) };
    },

    async *watch(request, context) {
      let last: ServingStatus | undefined;
      while (!context.signal.aborted) {
        const status = await statusOf(request.service);
        if (status !== last) {
          last = status;
          yield { status };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, healthWatchIntervalMs);
          context.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
      }
    },

    async list() {
      const serving = await deps.isServing();
      const status = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
      const statuses: Record<string, ReturnType<typeof create<typeof HealthCheckResponseSchema>>> = {};
      for (const name of known) statuses[name] = create(HealthCheckResponseSchema, { status });
      return { statuses };
    },
  };
}
