// Reconnect delays: quick first retries (a server restart or a blip), then settle at a slow steady pace.
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;

export class Backoff {
  private attempt = 0;

  /** Delay before the next attempt, with ±20 % jitter so many tabs do not retry in lockstep. */
  next(): number {
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.attempt);
    this.attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
