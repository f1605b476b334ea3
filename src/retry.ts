// The one retry/backoff helper: in-process retries through p-retry, and the same backoff formula for
// retries that are scheduled in the database instead (the Stripe webhook inbox), so every retry in
// Tally waits minMs * factor^(attempt - 1), at most maxMs (times a random factor in [1, 2) with jitter).
import pRetry from "p-retry";

export interface Backoff {
  /** The wait after the first failure. */
  readonly minMs: number;
  readonly maxMs: number;
  /** Each further wait is this many times the one before. */
  readonly factor: number;
  /** Spread the waits over [delay, 2 x delay) so that clients failing together retry apart. */
  readonly jitter?: boolean;
}

/** The wait after failed attempt `attempt` (1 = the first failure): p-retry's formula, for schedules kept elsewhere. */
export function backoffDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 64);
  const spread = backoff.jitter ? 1 + random() : 1;
  return Math.min(Math.round(spread * backoff.minMs * backoff.factor ** exponent), backoff.maxMs);
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly backoff: Backoff;
  /** Whether a failure may be retried; others end at once, with that error. */
  readonly retryable: (error: unknown) => boolean;
}

/** Runs `work` until it succeeds, fails with a non-retryable error, or has used all attempts (then the last error). */
export function withRetries<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  return pRetry(work, {
    retries: options.attempts - 1,
    factor: options.backoff.factor,
    minTimeout: options.backoff.minMs,
    maxTimeout: options.backoff.maxMs,
    randomize: options.backoff.jitter ?? false,
    shouldRetry: ({ error }) => options.retryable(error),
  });
}
