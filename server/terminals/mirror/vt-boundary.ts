// Tracks whether a terminal byte stream currently sits at a "clean cut": the escape-sequence parser is in its
// ground state and no UTF-8 character is half-written. A replay snapshot is only taken at such a cut, because the
// bytes that follow it are sent raw to the new client: cutting inside `ESC [ 3 1 m` would make the client print
// `1m` literally, and cutting inside a UTF-8 character would show U+FFFD.
//
// This is a deliberately small, conservative model of the VT500 parser that xterm.js implements: when unsure it
// reports "not at a boundary", and the caller simply waits for the next chunk (or gives up after a short time).

const ESC = 0x1b;
const BEL = 0x07;
const CAN = 0x18;
const SUB = 0x1a;

const enum State {
  Ground,
  Escape,
  EscapeIntermediate,
  Csi,
  /** OSC: ends with BEL or ST (ESC \) */
  OscString,
  /** DCS, SOS, PM, APC: end with ST only */
  String,
}

export class VtBoundary {
  private state = State.Ground;
  /** UTF-8 continuation bytes still expected by the character at the end of the stream */
  private utf8Pending = 0;

  /** True when a cut after everything fed so far is clean. */
  get atBoundary(): boolean {
    return this.state === State.Ground && this.utf8Pending === 0;
  }

  feed(bytes: Uint8Array): boolean {
    if (bytes.length === 0) return this.atBoundary;
    // ESC starts a new sequence from any state (it also terminates strings), so only the bytes from the last
    // ESC on decide the state. That keeps the common case — plain text, or a few SGR codes — one native scan.
    const lastEsc = bytes.lastIndexOf(ESC);
    if (lastEsc === -1 && this.state === State.Ground) {
      this.utf8Pending = utf8PendingAfter(this.utf8Pending, bytes);
      return this.atBoundary;
    }
    let i = 0;
    if (lastEsc !== -1) {
      this.state = State.Escape;
      i = lastEsc + 1;
    }
    for (; i < bytes.length; i++) this.step(bytes[i] as number);
    if (this.state === State.Ground)
      this.utf8Pending = utf8PendingAfter(0, bytes.subarray(Math.max(lastEsc + 1, bytes.length - 3)));
    return this.atBoundary;
  }

  private step(b: number): void {
    if (b === CAN || b === SUB) {
      this.state = State.Ground;
      return;
    }
    switch (this.state) {
      case State.Ground:
        if (b === ESC) this.state = State.Escape;
        return;
      case State.Escape:
        this.state = afterEscape(b, this.state);
        return;
      case State.EscapeIntermediate:
        if (b === ESC) this.state = State.Escape;
        else if (b >= 0x30 && b <= 0x7e) this.state = State.Ground;
        return;
      case State.Csi:
        if (b === ESC) this.state = State.Escape;
        else if (b >= 0x40 && b <= 0x7e) this.state = State.Ground;
        return;
      case State.OscString:
        if (b === ESC) this.state = State.Escape;
        else if (b === BEL) this.state = State.Ground;
        return;
      case State.String:
        if (b === ESC) this.state = State.Escape;
        return;
    }
  }
}

function afterEscape(b: number, current: State): State {
  if (b === ESC) return State.Escape;
  if (b === 0x5b /* [ */) return State.Csi;
  if (b === 0x5d /* ] */) return State.OscString;
  if (b === 0x50 /* P */ || b === 0x58 /* X */ || b === 0x5e /* ^ */ || b === 0x5f /* _ */) return State.String;
  if (b >= 0x20 && b <= 0x2f) return State.EscapeIntermediate;
  if (b >= 0x30 && b <= 0x7e) return State.Ground; // includes `ESC \` (ST) ending a string
  return current; // C0 controls inside an escape are executed and do not end it
}

/**
 * Continuation bytes still owed by the last character of `bytes`. A UTF-8 character is at most 4 bytes long,
 * so an unfinished one must have its lead byte within the last 3 bytes; `carried` covers chunks shorter than that.
 */
export function utf8PendingAfter(carried: number, bytes: Uint8Array): number {
  let pending = bytes.length >= 3 ? 0 : carried;
  for (let i = Math.max(0, bytes.length - 3); i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (b < 0x80) pending = 0;
    else if (b >= 0xf0) pending = 3;
    else if (b >= 0xe0) pending = 2;
    else if (b >= 0xc0) pending = 1;
    else pending = Math.max(0, pending - 1);
  }
  return pending;
}
