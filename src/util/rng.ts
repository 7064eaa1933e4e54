/** Small seeded PRNG (mulberry32) so every generator is reproducible from a seed. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) ^ 0x9e3779b9; }
  /** uniform in [0, 1) */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [lo, hi) */
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo)); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(0, xs.length)]; }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) { const j = this.int(0, i + 1); [xs[i], xs[j]] = [xs[j], xs[i]]; }
    return xs;
  }
  perm(n: number): number[] { return this.shuffle(Array.from({ length: n }, (_, i) => i)); }
}
