// JSON logs (pino). One root logger; request-scoped children carry a request id.
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Logs to stdout unless given another destination (tests capture the lines through one). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { service: "tally" }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}

/** For tests and tools that want silence. */
export const silentLogger: Logger = pino({ level: "silent" });
