/**
 * Token-id generators of the four shared toy models' tasks (docs/tasks.md "Toy tasks"; each
 * function documents its format). Each returns sequences, the scored positions and the label
 * at each scored position. The distributions follow the models' training notebooks; the random
 * streams are ours (not torch's), so individual rows differ from the notebooks' while the task
 * is the same.
 */
import { Rng } from '../../util/rng.js';

export interface ToyBatch {
  tokens: number[][];
  /** positions whose logits are scored (same for every row) */
  positions: number[];
  /** labels[i][j]: target at positions[j] of row i */
  labels: number[][];
}

export type ToyTaskName = 'min-int' | 'majority-element' | 'sort' | 'permute-lists';

/** min(a, b): [a, b, =200]; scored at position 2. `n` rows drawn from all 40,000 pairs. */
export function minInt(n: number, seed: number): ToyBatch {
  const rng = new Rng(seed);
  const tokens: number[][] = [], labels: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = rng.int(0, 200), b = rng.int(0, 200);
    tokens.push([a, b, 200]); labels.push([Math.min(a, b)]);
  }
  return { tokens, positions: [2], labels };
}

/** All 40,000 (a, b) pairs, a slowest. */
export function minIntAll(): ToyBatch {
  const tokens: number[][] = [], labels: number[][] = [];
  for (let a = 0; a < 200; a++) for (let b = 0; b < 200; b++) { tokens.push([a, b, 200]); labels.push([Math.min(a, b)]); }
  return { tokens, positions: [2], labels };
}

/** [BOS=51, x1..x10, END=50]; 6 of the 10 positions hold the majority value; scored at 11. */
export function majorityElement(n: number, seed: number): ToyBatch {
  const rng = new Rng(seed);
  const tokens: number[][] = [], labels: number[][] = [];
  for (let i = 0; i < n; i++) {
    const x = Array.from({ length: 10 }, () => rng.int(0, 50));
    const m = rng.int(0, 50);
    for (const j of rng.perm(10).slice(0, 6)) x[j] = m;
    tokens.push([51, ...x, 50]); labels.push([m]);
  }
  return { tokens, positions: [11], labels };
}

/** [BOS=50, a1..a10, MID=51, sorted]; positions 11..20 predict the sorted list. */
export function sortList(n: number, seed: number): ToyBatch {
  const rng = new Rng(seed);
  const tokens: number[][] = [], labels: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = Array.from({ length: 10 }, () => rng.int(0, 50));
    const s = [...a].sort((x, y) => x - y);
    tokens.push([50, ...a, 51, ...s]); labels.push(s);
  }
  return { tokens, positions: [11, 12, 13, 14, 15, 16, 17, 18, 19, 20], labels };
}

/** [BOS=52, a0,a1,a2, MID=51, p0,p1,p2, END=50, ans0..ans2]; positions 8,9,10 predict ans. */
export function permuteLists(n: number, seed: number): ToyBatch {
  const rng = new Rng(seed);
  const tokens: number[][] = [], labels: number[][] = [];
  for (let i = 0; i < n; i++) {
    const a = [rng.int(0, 50), rng.int(0, 50), rng.int(0, 50)];
    const p = rng.perm(3);
    const ans = p.map((j) => a[j]);
    tokens.push([52, ...a, 51, ...p, 50, ...ans]); labels.push(ans);
  }
  return { tokens, positions: [8, 9, 10], labels };
}

export const TOY_GENERATORS: Record<ToyTaskName, (n: number, seed: number) => ToyBatch> = {
  'min-int': minInt,
  'majority-element': majorityElement,
  sort: sortList,
  'permute-lists': permuteLists,
};
