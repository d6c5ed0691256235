/** One measured figure, side by side with its baseline, measured in the same run. */
export interface Row {
  figure: string;
  ours: string;
  baseline: string;
  /** ours relative to the baseline, in the direction the target states */
  ratio: number;
  target: string;
  /** how to reproduce */
  command: string;
  met?: boolean;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}
