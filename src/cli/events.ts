// `tally events ls|redeliver`: the account events Tally produced, their deliveries, and redelivery.
// What the commands do: events-run.ts, loaded when one runs.
import { Command } from "commander";
import { withServerOption, type ServerOptions } from "./remote.js";

export interface EventsLsOptions extends ServerOptions {
  attribution?: string;
  type?: string;
  endpoint?: string;
  limit: string;
  json?: boolean;
}

export function eventsCommand(): Command {
  const events = new Command("events").description("account events (webhooks) and their deliveries");

  events.addCommand(
    withServerOption(
      new Command("ls")
        .description("list events newest first, with how their deliveries went")
        .option("--attribution <id>", "only events of this team:<uuid> or user:<uuid>")
        .option("--type <type>", "only events of this type, e.g. limit.reached")
        .option("--endpoint <id>", "only events (and deliveries) of this endpoint")
        .option("--limit <n>", "at most this many events (0: all)", "50")
        .option("--json", "write JSON Lines: each event with its payload, deliveries and attempts"),
    ).action(async (options: EventsLsOptions) => {
      // Loaded here, not at the top: `tally --help` starts without protobuf and Connect.
      const { listEvents } = await import("./events-run.js");
      await listEvents(options);
    }),
  );

  events.addCommand(
    withServerOption(
      new Command("redeliver")
        .description("deliver an event again (to every endpoint it went to, or to one), with the same webhook-id")
        .argument("<event-id>")
        .option("--endpoint <id>", "only to this endpoint"),
    ).action(async (eventId: string, options: ServerOptions & { endpoint?: string }) => {
      const { redeliverEvent } = await import("./events-run.js");
      await redeliverEvent(eventId, options);
    }),
  );
  return events;
}
