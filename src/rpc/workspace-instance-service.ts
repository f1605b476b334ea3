// usage.v1.WorkspaceInstanceService: thin handlers over the workspace-instance service.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { InstanceReportInput, WorkspaceInstance } from "../domain/workspace-instance.js";
import {
  WorkspaceInstanceSchema,
  type WorkspaceInstance as WireInstance,
  type WorkspaceInstanceService,
} from "../gen/usage/v1/workspace_instance_pb.js";
import type { WorkspaceInstanceService as Instances } from "../services/workspace-instance-service.js";
import { dateFromTimestamp, timestamp } from "./convert.js";

export function workspaceInstanceServiceImpl(instances: Instances): ServiceImpl<typeof WorkspaceInstanceService> {
  return {
    async upsertWorkspaceInstances(request) {
      const upserted = await instances.upsert(request.instances, instanceReportInput);
      return { upserted: BigInt(upserted) };
    },

    async getWorkspaceInstance(request) {
      return instanceToWire(await instances.get(request.id));
    },
  };
}

/** The wire message as a report; a malformed timestamp throws InvalidArgument naming `prefix.field`. */
export function instanceReportInput(message: WireInstance, prefix: string): InstanceReportInput {
  return {
    id: message.id,
    workspaceId: message.workspaceId,
    attributionId: message.attributionId,
    userId: message.userId,
    workspaceClass: message.workspaceClass,
    workspaceType: message.workspaceType,
    creationTime: dateFromTimestamp(message.creationTime, `${prefix}.creation_time`),
    startedTime: dateFromTimestamp(message.startedTime, `${prefix}.started_time`),
    stoppingTime: dateFromTimestamp(message.stoppingTime, `${prefix}.stopping_time`),
    stoppedTime: dateFromTimestamp(message.stoppedTime, `${prefix}.stopped_time`),
    projectId: message.projectId,
    contextUrl: message.contextUrl,
    userName: message.userName,
    userAvatarUrl: message.userAvatarUrl,
  };
}

export function instanceToWire(instance: WorkspaceInstance): WireInstance {
  const time = (date: Date | undefined) => (date ? timestamp(date) : undefined);
  return create(WorkspaceInstanceSchema, {
    id: instance.id,
    workspaceId: instance.workspaceId,
    attributionId: instance.attributionId ?? "",
    userId: instance.userId ?? "",
    workspaceClass: instance.workspaceClass,
    workspaceType: instance.workspaceType ?? "",
    creationTime: time(instance.creationTime),
    startedTime: time(instance.startedTime),
    stoppingTime: time(instance.stoppingTime),
    stoppedTime: time(instance.stoppedTime),
    projectId: instance.projectId,
    contextUrl: instance.contextUrl,
    userName: instance.userName,
    userAvatarUrl: instance.userAvatarUrl,
  });
}
