// A token bucket: a burst of `burst` takes, refilled at `perSecond`. Used wherever a peer's rate is bounded
// (session creation, refused WebSocket messages, unauthenticated requests per IP).

export interface Rate {
  burst: number;
  perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly rate: Rate) {
    this.tokens = rate.burst;
  }

  /** Refills for the time passed, then takes one token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** true when at least one token is left (takes nothing) */
  hasToken(): boolean {
    this.refill();
    return this.tokens >= 1;
  }

  /** true once the bucket has refilled completely: its owner may forget it */
  isFull(): boolean {
    this.refill();
    return this.tokens >= this.rate.burst;
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.last) / 1000) * this.rate.perSecond);
    this.last = now;
  }
}
