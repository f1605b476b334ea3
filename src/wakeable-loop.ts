// The loop of a background worker (the Stripe webhook inbox, the event dispatcher): drain, then sleep
// until woken or the poll interval has passed. A wake-up that comes while draining makes it drain
// again before sleeping, so work written during a drain is not left for the next poll. A failed drain
// is logged and the loop goes on: the work stays in the database and is claimed again.
import type { Logger } from "./logger.js";

export interface WakeableLoopOptions {
  readonly drain: () => Promise<unknown>;
  readonly pollIntervalMs: number;
  readonly logger: Logger;
  /** Logged with the error when a drain fails, e.g. "the event dispatcher failed; trying again". */
  readonly failureMessage: string;
}

export class WakeableLoop {
  private running: Promise<void> | undefined;
  private stoppedNow = true;
  private wakeUp: (() => void) | undefined;
  /** A wake-up that came while draining: drain again before sleeping. */
  private wokenWhileBusy = false;

  constructor(private readonly options: WakeableLoopOptions) {}

  /** True until `start` and again from `stop`: a drain in progress may check it to end early. */
  get stopped(): boolean {
    return this.stoppedNow;
  }

  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.wokenWhileBusy = true;
  }

  /** Starts the loop; does nothing when it runs already. */
  start(): void {
    if (!this.stoppedNow) return;
    this.stoppedNow = false;
    this.running = this.loop();
  }

  /** Resolves once the drain in progress, if any, has returned. */
  async stop(): Promise<void> {
    this.stoppedNow = true;
    this.wake();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stoppedNow) {
      this.wokenWhileBusy = false;
      try {
        await this.options.drain();
      } catch (error) {
        this.options.logger.error({ err: error }, this.options.failureMessage);
      }
      if (this.stoppedNow) break;
      if (this.wokenWhileBusy) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollIntervalMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
  }
}
