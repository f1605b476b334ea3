// The real clock, for the running server. The domain never reads it; it is passed in from here.
import type { Clock } from "./domain/clock.js";

export const systemClock: Clock = { now: () => new Date() };
