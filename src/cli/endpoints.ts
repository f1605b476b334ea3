// `tally endpoints add|ls|rm|rotate-secret`: where account events (webhooks) are delivered. What the
// commands do: endpoints-run.ts, loaded when one runs.
import { Command } from "commander";
import { withServerOption, type ServerOptions } from "./remote.js";

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
      // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
      const { addEndpoint } = await import("./endpoints-run.js");
      await addEndpoint(url, options);
    }),
  );

  endpoints.addCommand(
    withServerOption(
      new Command("ls").description("list the endpoints, with their pending and failed deliveries").option("--json", "write JSON Lines"),
    ).action(async (options: ServerOptions & { json?: boolean }) => {
      const { listEndpoints } = await import("./endpoints-run.js");
      await listEndpoints(options);
    }),
  );

  endpoints.addCommand(
    withServerOption(
      new Command("rm").description("remove an endpoint; its pending deliveries are canceled").argument("<endpoint-id>"),
    ).action(async (endpointId: string, options: ServerOptions) => {
      const { removeEndpoint } = await import("./endpoints-run.js");
      await removeEndpoint(endpointId, options);
    }),
  );

  endpoints.addCommand(
    withServerOption(
      new Command("rotate-secret")
        .description("give an endpoint a new signing secret; the old one stays valid for 24 hours")
        .argument("<endpoint-id>"),
    ).action(async (endpointId: string, options: ServerOptions) => {
      const { rotateEndpointSecret } = await import("./endpoints-run.js");
      await rotateEndpointSecret(endpointId, options);
    }),
  );
  return endpoints;
}
