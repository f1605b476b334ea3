// `tally endpoints add|ls|rm|rotate-secret`: the calls and the views (the definitions: endpoints.ts).
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Endpoint_Source, EventService, type Endpoint } from "../gen/usage/v1/event_pb.js";
import { clientFor } from "./client.js";
import { formatTable, write } from "./output.js";
import { UsageError, type ServerOptions } from "./remote.js";

export async function addEndpoint(url: string, options: ServerOptions & { events: string; description?: string; secret?: string; json?: boolean }): Promise<void> {
  const eventTypes = options.events.split(",").map((type) => type.trim()).filter((type) => type !== "");
  if (eventTypes.length === 0) throw new UsageError("--events must name at least one event type");
  const added = await clientFor(EventService, options).addEndpoint({
    url,
    eventTypes,
    description: options.description ?? "",
    secret: options.secret ?? "",
  });
  const endpoint = added.endpoint!;
  if (options.json) {
    await write(JSON.stringify({ ...endpointView(endpoint), secret: added.secret }) + "\n");
    return;
  }
  await write(
    [
      `added endpoint ${endpoint.id}`,
      `url      ${endpoint.url}`,
      `events   ${endpoint.eventTypes.join(", ")}`,
      `secret   ${added.secret}`,
      "Keep the secret: receivers verify signatures with it, and it is not shown again.",
    ].join("\n") + "\n",
  );
}

export async function listEndpoints(options: ServerOptions & { json?: boolean }): Promise<void> {
  const { endpoints: list } = await clientFor(EventService, options).listEndpoints({});
  if (options.json) {
    for (const endpoint of list) await write(JSON.stringify(endpointView(endpoint)) + "\n");
    return;
  }
  if (list.length === 0) {
    await write("no endpoints\n");
    return;
  }
  const rows = list.map((endpoint) => [
    endpoint.id,
    endpoint.source === Endpoint_Source.CONFIG ? "config" : "api",
    String(endpoint.pendingDeliveries),
    String(endpoint.failedDeliveries),
    endpoint.eventTypes.join(","),
    endpoint.url,
  ]);
  await write(formatTable(["ID", "SOURCE", "PENDING", "FAILED", "EVENTS", "URL"], rows));
}

export async function removeEndpoint(endpointId: string, options: ServerOptions): Promise<void> {
  const { canceledDeliveries } = await clientFor(EventService, options).removeEndpoint({ endpointId });
  await write(`removed endpoint ${endpointId} (${canceledDeliveries} pending deliveries canceled)\n`);
}

export async function rotateEndpointSecret(endpointId: string, options: ServerOptions): Promise<void> {
  const rotated = await clientFor(EventService, options).rotateEndpointSecret({ endpointId });
  const until = rotated.previousSecretExpireTime ? timestampDate(rotated.previousSecretExpireTime).toISOString() : "";
  await write(`secret   ${rotated.secret}\nThe previous secret stays valid until ${until}.\n`);
}

function endpointView(endpoint: Endpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: endpoint.eventTypes,
    source: endpoint.source === Endpoint_Source.CONFIG ? "config" : "api",
    createdTime: endpoint.createdTime ? timestampDate(endpoint.createdTime).toISOString() : null,
    secretHint: endpoint.secretHint,
    previousSecretExpireTime: endpoint.previousSecretExpireTime ? timestampDate(endpoint.previousSecretExpireTime).toISOString() : null,
    pendingDeliveries: Number(endpoint.pendingDeliveries),
    failedDeliveries: Number(endpoint.failedDeliveries),
  };
}
