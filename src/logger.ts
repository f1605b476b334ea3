// JSON logs (pino). One root logger; request-scoped children carry a request id.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "tally" }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** For tests and tools that want silence. */
export const silentLogger: Logger = pino({ level: "silent" });
