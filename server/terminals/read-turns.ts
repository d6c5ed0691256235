// Takes turns among flooding ptys, so that one event-loop turn never reads from more than a few of them and a
// keystroke's echo on another terminal waits behind at most that much work.
//
// Every session's pty is read on the one main thread. With 100 floods at once, each loop turn read ~4 KB from
// each of 100 ptys and sent it on (ws frames, mirror copies): measured with `npm run bench -- sessions` on 2
// loaded vCPUs, the main thread was runnable 99% of the time but on a CPU only 25–33%, and each turn's ~400 KB of
// work took 30–60 ms of wall time — the delay every echo waited (p50 39–52 ms, p99 150–370 ms).
//
// A read of STREAMING_READ_BYTES or more is a flood's. While more floods are reading than one turn takes
// (READERS_PER_TURN), a flood that has had its read steps aside (its pty is throttled: not read, see
// flow-gate.ts) and queues; each turn lets the queue's head back in, as many as there are free places. Small
// reads (echoes, prompts, an interactive program's screen updates) are never throttled. A lone flood, or a few,
// never queue: nothing changes for them.

/** What a flood's reader offers: stop reading, or read again (flow-gate.ts's PtyFlowGate). */
export interface Throttle {
  throttle(on: boolean): void;
}

/** A read at least this big is a flood's (a pty hands over at most ~4 KB per read; an echo is a few bytes). */
export const STREAMING_READ_BYTES = 1024;
/**
 * Floods read in one turn before the rest wait (a pty read is at most ~4 KB, so a turn's flood work stays near
 * 16 KB). Measured with 100 coloured floods and a user typing 50 keys/s (2 vCPUs under other load, so ranges):
 * no turns: echo p50 46–80 ms, p99 317–466 ms, floods 8–14 MB/s in all; 16: 12 / 115 ms; 8: 9–11 / 79–122 ms,
 * 11 MB/s; 4: 3–12 / 37–127 ms, 7–20 MB/s; 2 and 1 no better than 4. Fewer than this many floods never wait.
 */
export const READERS_PER_TURN = 4;

/** With floods waiting and none of those let back in reading (their clients are behind), look again this soon. */
const IDLE_TURN_MS = 1;

export class ReadTurns {
  /** floods that read this turn, and those of them that kept their place */
  private readersThisTurn = 0;
  private keptThisTurn = 0;
  /** floods that stepped aside, in the order they did */
  private readonly queue: Throttle[] = [];
  private readonly queued = new Set<Throttle>();
  private turnEnd: NodeJS.Immediate | undefined;
  private idleTurn: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(private readonly perTurn = READERS_PER_TURN) {}

  /** floods waiting for their turn */
  get waiting(): number {
    return this.queue.length;
  }

  /** A session's pty handed over `bytes`: a flood past this turn's places (or behind a queue) steps aside. */
  read(gate: Throttle, bytes: number): void {
    if (this.disposed || bytes < STREAMING_READ_BYTES || this.queued.has(gate)) return;
    this.readersThisTurn++;
    if (!this.turnEnd) {
      clearTimeout(this.idleTurn);
      this.idleTurn = undefined;
      this.turnEnd = setImmediate(() => this.nextTurn());
    }
    if (this.readersThisTurn <= this.perTurn && this.queue.length === 0) {
      this.keptThisTurn++;
      return;
    }
    gate.throttle(true);
    this.queue.push(gate);
    this.queued.add(gate);
  }

  /** A session ends: it leaves the queue (its gate is disposed with it). */
  forget(gate: Throttle): void {
    if (!this.queued.delete(gate)) return;
    const i = this.queue.indexOf(gate);
    if (i >= 0) this.queue.splice(i, 1);
  }

  dispose(): void {
    this.disposed = true;
    clearImmediate(this.turnEnd);
    clearTimeout(this.idleTurn);
    this.turnEnd = undefined;
    this.idleTurn = undefined;
    for (const gate of this.queue) gate.throttle(false);
    this.queue.length = 0;
    this.queued.clear();
  }

  /** After a turn's reads: the queue's head takes the places that the floods still reading did not keep. */
  private nextTurn(): void {
    this.turnEnd = undefined;
    this.idleTurn = undefined;
    let free = this.perTurn - this.keptThisTurn;
    this.readersThisTurn = 0;
    this.keptThisTurn = 0;
    while (free-- > 0 && this.queue.length > 0) {
      const gate = this.queue.shift() as Throttle;
      this.queued.delete(gate);
      gate.throttle(false);
    }
    // Those let back in read in the next poll, which schedules the next turn. If none does (their clients are
    // behind on acks), the queue must still move: an idle turn soon, not a busy loop of immediates.
    if (this.queue.length > 0) this.idleTurn = setTimeout(() => this.nextTurn(), IDLE_TURN_MS);
  }
}
