// Handing freed heap memory back to the kernel after the mirror worker freezes idle scrollback.
//
// The cells a frozen scrollback releases are thousands of 1.4 kB ArrayBuffer backing stores spread over glibc's
// heap; free() keeps such memory resident unless it sits at the top of the heap, so the process's RSS did not go
// down at all (measured: 100 frozen terminals, RSS 307 → 337 MB) until malloc_trim(0) returned the free pages
// (→ 155 MB). malloc_trim comes through koffi (no Node binding has it); where that cannot load (no glibc), the
// memory is still reused by the process, just not returned.
import koffi from 'koffi';

let trim: ((pad: number) => number) | null | undefined;

/** Returns glibc's free heap pages to the kernel (all threads' arenas); false where that is not available. */
export function releaseFreedMemory(): boolean {
  if (trim === undefined) {
    try {
      trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      trim = null; // Swallow: no glibc (or no koffi binary): freed memory stays with the process for reuse
    }
  }
  if (!trim) return false;
  trim(0);
  return true;
}
