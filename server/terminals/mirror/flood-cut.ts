// Skipping what a flood scrolls away, so the replay mirror keeps up with `yes` or `cat big.log`.
//
// Parsing every byte into the headless xterm was the bulk of the server's CPU under a flood (1.4 s of 4.3 s of
// CPU for 100 MB here). But most of a flood cannot matter: in a plain run of text (printable ASCII, CR, LF —
// nothing that changes modes, colours, charsets or anything but the cursor and cells), once enough line feeds
// follow a carriage return, everything before it has left the buffer. Precisely: parse only from a CR. Right
// after it both parses — the full one and the one that skipped what came before — have the cursor in column 0
// with no wrap pending, and differ only in the cursor's row and in stale cells. `rows` line feeds later the
// cursor is on the bottom row in both, and every further line feed scrolls one line out, so after
// `rows + scrollback` more no line either of them had before (or half-wrote in between) is left in screen or
// scrollback. The state is then exactly the one a full parse gives — provided the parser was at a clean
// boundary (not inside an escape sequence) where the run starts, the scroll region is the whole screen, the
// normal buffer is active and insert mode is off: the caller checks those; nothing in a plain run changes them.

/** Where parsing may start and where the plain run it belongs to ends. Positions are (chunk index, byte offset). */
export interface FloodCut {
  entry: number;
  offset: number;
  endEntry: number;
  endOffset: number;
}

/**
 * In the plain run that starts at the first byte of `chunks`: the latest carriage return that still has at
 * least `keepLineFeeds` line feeds after it within the run, as the place parsing may start (the CR itself is
 * parsed); null when there is none (no skipping). Line feeds without any CR (output with `onlcr` off) never
 * make a cut: the column would differ.
 */
export function floodCut(chunks: readonly Uint8Array[], keepLineFeeds: number): FloodCut | null {
  // Pass 1: how far the plain run goes, and how many line feeds it has.
  let lineFeeds = 0;
  let endEntry = chunks.length;
  let endOffset = 0;
  scan: for (let e = 0; e < chunks.length; e++) {
    const c = chunks[e] as Uint8Array;
    for (let i = 0; i < c.length; i++) {
      const b = c[i] as number;
      if (b === 0x0a) lineFeeds++;
      else if ((b < 0x20 || b > 0x7e) && b !== 0x0d) {
        endEntry = e;
        endOffset = i;
        break scan;
      }
    }
  }
  if (endEntry === chunks.length) {
    endEntry = chunks.length - 1;
    endOffset = endEntry >= 0 ? (chunks[endEntry] as Uint8Array).length : 0;
  }
  if (lineFeeds <= keepLineFeeds) return null;
  // Pass 2: the last CR with enough line feeds after it (they only get fewer further on).
  let after = lineFeeds;
  let cut: FloodCut | null = null;
  for (let e = 0; e < chunks.length; e++) {
    const c = chunks[e] as Uint8Array;
    for (let i = 0; i < c.length; i++) {
      const b = c[i] as number;
      if (b === 0x0a) {
        if (--after < keepLineFeeds) return cut;
      } else if (b === 0x0d && (e > 0 || i > 0)) cut = { entry: e, offset: i, endEntry, endOffset };
    }
  }
  return cut;
}
