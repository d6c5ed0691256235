// The four kinds of output the terminal benchmark floods with, as files for `cat`: plain lines, SGR-coloured
// lines (as ls --color, compilers and journald print them), UTF-8 lines (accents, Cyrillic, Greek, CJK wide
// characters, emoji, combining marks) and one long line without a newline. Lines end in LF (the pty adds the CR).
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { rng } from '../helpers/rng.js';

export const FLOOD_KINDS = ['plain', 'sgr', 'utf8', 'long'] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

export const FLOOD_KIND_LABELS: Record<FloodKind, string> = {
  plain: 'plain lines',
  sgr: 'SGR-coloured lines',
  utf8: 'UTF-8 lines',
  long: 'one long line',
};

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'src/main.c', 'warning:', 'note:', 'config.yaml', 'README.md'];
const UTF8_WORDS = ['Grüße', 'café', 'Привет', 'καλημέρα', '世界', '日本語', 'naïve', 'e\u0301', '😀', 'ß', '한국어'];
const COLOURS = ['\x1b[01;34m', '\x1b[01;32m', '\x1b[31m', '\x1b[1;33m', '\x1b[38;5;208m', '\x1b[36m', '\x1b[35;1m'];

/** One line of about 100 bytes (without its newline). */
function line(kind: FloodKind, r: () => number, n: number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  let s = `${String(n).padStart(7, '0')} `;
  while (Buffer.byteLength(s) < 92) {
    if (kind === 'sgr') s += `${pick(COLOURS)}${pick(WORDS)}\x1b[0m `;
    else if (kind === 'utf8') s += `${pick(UTF8_WORDS)} ${pick(WORDS)} `;
    else s += `${pick(WORDS)} `;
  }
  return s;
}

/** About 1 MB of the kind, to repeat. */
function block(kind: FloodKind): Buffer {
  const r = rng(0x5eed);
  const lines: string[] = [];
  let bytes = 0;
  for (let n = 0; bytes < 1024 * 1024; n++) {
    const l = line(kind === 'long' ? 'plain' : kind, r, n);
    lines.push(l);
    bytes += Buffer.byteLength(l) + 1;
  }
  return Buffer.from(kind === 'long' ? lines.join(' ') : lines.join('\n') + '\n');
}

/** Writes `bytes` bytes of the kind to a file in `dir`; returns its path. */
export function writeFloodFile(dir: string, kind: FloodKind, bytes: number): string {
  const file = path.join(dir, `flood-${kind}.txt`);
  const b = block(kind);
  const fd = openSync(file, 'w');
  try {
    for (let left = bytes; left > 0; left -= b.length) writeSync(fd, b, 0, Math.min(left, b.length));
  } finally {
    closeSync(fd);
  }
  return file;
}
