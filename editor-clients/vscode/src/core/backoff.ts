/**
 * When to restart a server that died: exponential backoff (1 s, 2 s, 4 s, ... up to a cap), reset once the
 * server has stayed up for a while, and a give-up after too many failures in a row. Pure: time comes in as
 * numbers.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A server that ran this long before dying counts as healthy: the next delay starts over. */
  stableMs: number;
  /** Failures in a row (no stable run between) after which `nextDelay` gives up. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, stableMs: 60_000, maxAttempts: 8 };

export class RestartBackoff {
  private failures = 0;
  private startedAt?: number;

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** The server is up (initialized). */
  started(now: number): void {
    this.startedAt = now;
  }

  /** The server died (or failed to start) at `now`: how long to wait before the next start; undefined: give up. */
  nextDelay(now: number): number | undefined {
    if (this.startedAt !== undefined && now - this.startedAt >= this.options.stableMs) {
      this.failures = 0;
    }
    this.startedAt = undefined;
    if (this.failures >= this.options.maxAttempts) {
      return undefined;
    }
    const delay = Math.min(this.options.initialMs * 2 ** this.failures, this.options.maxMs);
    this.failures += 1;
    return delay;
  }

  /** A restart the user asked for starts over. */
  reset(): void {
    this.failures = 0;
    this.startedAt = undefined;
  }

  /** Failed starts in a row so far. */
  get attempts(): number {
    return this.failures;
  }
}
