// `tally endpoints add|ls|rm|rotate-secret`: where account events (webhooks) are delivered.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Command } from "commander";
import { Endpoint_Source, EventService, type Endpoint } from "../gen/usage/v1/event_pb.js";
import { formatTable, write } from "./output.js";
import { clientFor, UsageError, withServerOption, type ServerOptions } from "./remote.js";

export function endpointsCommand(): Command {
  const endpoints = new Command("endpoints").description("webhook endpoints that receive account events");

  endpoints.addCommand(
    withServerOption(
      new Command("add")
        .description("register an endpoint; prints its id and signing secret (shown only now)")
        .argument("<url>", "http:// or https:// URL the events are POSTed to")
        .requiredOption("--events <types>", "comma-separated event types, e.g. limit.warning,limit.reached (see the README)")
        .option("--description <text>", "what the endpoint is for")
        .option("--secret <whsec>", "use this signing secret (whsec_<base64>) instead of a generated one")
        .option("--json", "print the endpoint and its secret as JSON"),
    ).action(async (url: string, options: ServerOptions & { events: string; description?: string; secret?: string; json?: boolean }) => {
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
    }),
  );

  endpoints.addCommand(
    withServerOption(
      new Command("ls").description("list the endpoints, with their pending and failed deliveries").option("--json", "write JSON Lines"),
    ).action(async (options: ServerOptions & { json?: boolean }) => {
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
    }),
  );

  endpoints.addCommand(
    withServerOption(
      new Command("rm").description("remove an endpoint; its pending deliveries are canceled").argument("<endpoint-id>"),
    ).action(async (endpointId: string, options: ServerOptions) => {
      const { canceledDeliveries } = await clientFor(EventService, options).removeEndpoint({ endpointId });
      await write(`removed endpoint ${endpointId} (${canceledDeliveries} pending deliveries canceled)\n`);
    }),
  );

  endpoints.addCommand(
    withServerOption(
      new Command("rotate-secret")
        .description("give an endpoint a new signing secret; the old one stays valid for 24 hours")
        .argument("<endpoint-id>"),
    ).action(async (endpointId: string, options: ServerOptions) => {
      const rotated = await clientFor(EventService, options).rotateEndpointSecret({ endpointId });
      const until = rotated.previousSecretExpireTime ? timestampDate(rotated.previousSecretExpireTime).toISOString() : "";
      await write(`secret   ${rotated.secret}\nThe previous secret stays valid until ${until}.\n`);
    }),
  );
  return endpoints;
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
