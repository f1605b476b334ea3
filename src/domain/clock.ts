// Time comes into the domain from the edge, so tests can run years of billing cycles in milliseconds.

export interface Clock {
  now(): Date;
}

/** A clock that only moves when told to; for tests and simulations. */
export class ManualClock implements Clock {
  private currentMs: number;

  constructor(start: Date) {
    this.currentMs = start.getTime();
  }

  now(): Date {
    return new Date(this.currentMs);
  }

  set(time: Date): void {
    this.currentMs = time.getTime();
  }

  advanceMs(deltaMs: number): void {
    this.currentMs += deltaMs;
  }
}
