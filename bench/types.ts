// One line of `npm run bench` output (SPEC §8): printed as a JSON object per line.
export interface BenchLine {
  bench: string;
  value: number;
  unit: string;
  [k: string]: unknown;
}

/** A named benchmark: resolves to one or more lines (each the median of several runs). */
export type BenchFn = () => Promise<BenchLine[]>;

/** Median of a non-empty list of samples. */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
