/** A small deterministic PRNG (xorshift32) in [0, 1): the same seed gives every run the same bytes. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1; // xorshift is stuck at 0
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
