// Flow control from the browser's side: count the output bytes xterm has rendered and ack them in batches.
// The server pauses the pty while a writer owes too much, and drops a viewer that falls far behind.

/** Acks are batched: sent once this many rendered bytes are owed... */
const ACK_BATCH_BYTES = 32 * 1024;
/** ...or this long after the first unacked byte, so a quiet shell never sits on a partial batch. */
const ACK_DELAY_MS = 25;

export class AckBatcher {
  private owed = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly send: (bytes: number) => void) {}

  /** `bytes` were rendered (xterm's write callback). */
  rendered(bytes: number): void {
    this.owed += bytes;
    if (this.owed >= ACK_BATCH_BYTES) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), ACK_DELAY_MS);
  }

  flush(): void {
    this.cancelTimer();
    if (this.owed > 0) this.send(this.owed);
    this.owed = 0;
  }

  /** Forget what is owed (a new socket starts from zero). */
  reset(): void {
    this.cancelTimer();
    this.owed = 0;
  }

  private cancelTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
