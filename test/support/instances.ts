// Workspace-instance reports for tests, in the plain-object shape a grpc-js client sends.
import { randomUUID } from "node:crypto";
import { WorkspaceInstanceService } from "../../src/gen/usage/v1/workspace_instance_pb.js";
import { grpcClientFor, type GrpcClient, type TestTally } from "./test-tally.js";

export type InstanceClient = GrpcClient<typeof WorkspaceInstanceService>;

export interface WireTimestamp {
  seconds: string;
  nanos: number;
}

export const ts = (date: Date): WireTimestamp => ({
  seconds: String(Math.floor(date.getTime() / 1000)),
  nanos: (((date.getTime() % 1000) + 1000) % 1000) * 1e6,
});
export const fromTs = (t: WireTimestamp | null | undefined) =>
  t ? new Date(Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6)) : undefined;

export interface InstanceSpec {
  id?: string;
  attributionId?: string;
  userId?: string;
  workspaceClass?: string;
  workspaceType?: string;
  creationTime?: Date;
  startedTime?: Date;
  stoppingTime?: Date;
  stoppedTime?: Date;
  contextUrl?: string;
  userName?: string;
}

/** A report as a grpc-js request object; times only when given. */
export function instanceReport(spec: InstanceSpec): Record<string, unknown> {
  const report: Record<string, unknown> = {
    id: spec.id ?? randomUUID(),
    workspaceId: `ws-${(spec.id ?? randomUUID()).slice(0, 8)}`,
    attributionId: spec.attributionId ?? "",
    userId: spec.userId ?? "",
    workspaceClass: spec.workspaceClass ?? "",
    workspaceType: spec.workspaceType ?? "",
    contextUrl: spec.contextUrl ?? "",
    userName: spec.userName ?? "",
  };
  for (const key of ["creationTime", "startedTime", "stoppingTime", "stoppedTime"] as const) {
    const time = spec[key];
    if (time) report[key] = ts(time);
  }
  return report;
}

/** A grpc-js client of WorkspaceInstanceService on a test server; close it when done. */
export function instanceClient(t: TestTally): InstanceClient {
  return grpcClientFor(`127.0.0.1:${t.tally.port}`, WorkspaceInstanceService);
}
