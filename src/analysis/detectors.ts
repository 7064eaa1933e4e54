/**
 * Head detectors on repeated random tokens (the induction-head test of Olsson et al. 2022 as
 * TransformerLens / ARENA run it). A batch of sequences `[BOS?] r_0..r_{n-1} r_0..r_{n-1}`;
 * with the sequence at offset o (1 with a BOS, else 0) the second copy occupies positions
 * d = o+n+i, i = 0..n-1. For every head, the mean over the batch and over those n destinations
 * of the attention weight on:
 * - induction: d - n + 1, the token after the first copy of the current token;
 * - duplicate: d - n, the first copy of the current token;
 * - previous:  d - 1, the previous token.
 * Scores lie in [0, 1]; 1 means the head puts all of its attention there on every second-copy
 * token. Where ARENA averages the induction stripe over n+1 destinations (it starts one token
 * early, in the first copy), these scores use exactly the n second-copy tokens for all three.
 *
 * Random tokens: ids drawn uniformly from [0, min(dVocab, dVocabOut)) without the BOS id
 * (GPT-2: the ordinary BPE ids below 50256), distinct within a sequence when the pool allows
 * it (so "the first copy" is unambiguous), seeded.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import { hook } from '../model/hook-names.js';
import type { HookedTransformer, HookSpec } from '../model/transformer.js';
import { heatmapSvg } from '../report/heatmap.js';
import { fmtNum } from '../util/format.js';
import { Rng } from '../util/rng.js';
import { headName, type HeadRef } from './heads.js';

export const DETECTORS = ['induction', 'duplicate', 'previous'] as const;
export type DetectorName = (typeof DETECTORS)[number];

export const DETECTOR_DESCRIPTIONS: Readonly<Record<DetectorName, string>> = Object.freeze({
  induction: 'attention from each second-copy token to the token after its first copy',
  duplicate: 'attention from each second-copy token to its first copy',
  previous: 'attention from each second-copy token to the previous token',
});

/** GPT-2 ids at or above this are special (50256 = <|endoftext|>). */
const GPT2_ORDINARY = 50256;
export const DEFAULT_REPEAT_LEN = 20;

export interface RepeatedTokens {
  /** [batch][o + 2n] */
  tokens: number[][];
  /** length of the random sequence */
  n: number;
  /** 1 when a BOS precedes the sequence, else 0 */
  offset: number;
  /** whether every sequence's n tokens are distinct */
  distinct: boolean;
}

export interface RepeatOptions {
  /** length of the random sequence (default 20, capped by the context) */
  n?: number;
  batch?: number;
  seed?: number;
  /** prepend the model's BOS (default: when the model has one and prepends it by default) */
  prependBos?: boolean;
}

/** The source position a detector reads for destination `d` of a sequence of length n. */
export function detectorSource(kind: DetectorName, d: number, n: number): number {
  switch (kind) {
    case 'induction': return d - n + 1;
    case 'duplicate': return d - n;
    case 'previous': return d - 1;
  }
}

/** A batch of repeated random sequences for `cfg`. */
export function repeatedRandomTokens(cfg: ModelConfig, o: RepeatOptions = {}): RepeatedTokens {
  const bos = cfg.bosTokenId;
  const useBos = o.prependBos ?? (cfg.defaultPrependBos && bos !== null);
  if (useBos && bos === null) throw new Error(`heads: model ${cfg.modelName} has no BOS token to prepend`);
  const offset = useBos ? 1 : 0;
  const maxN = Math.floor((cfg.nCtx - offset) / 2);
  const n = o.n ?? Math.min(DEFAULT_REPEAT_LEN, maxN);
  if (!Number.isInteger(n) || n < 2) throw new Error(`heads: the sequence length must be an integer >= 2, got ${n}${o.n === undefined ? ` (the model's context nCtx ${cfg.nCtx} is too short)` : ''}`);
  if (n > maxN) throw new Error(`heads: a sequence of ${n} tokens repeated once${useBos ? ' after a BOS' : ''} is ${2 * n + offset} tokens, longer than the model's context nCtx ${cfg.nCtx} (at most --seq-len ${maxN})`);
  const batch = o.batch ?? 10;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`heads: the batch size must be a positive integer, got ${batch}`);
  let hi = Math.min(cfg.dVocab, cfg.dVocabOut);
  if (cfg.tokenizerName === 'gpt2') hi = Math.min(hi, GPT2_ORDINARY);
  const pool = Array.from({ length: hi }, (_, i) => i).filter((i) => !(useBos && i === bos));
  if (pool.length < 2) throw new Error(`heads: the model's vocabulary has ${pool.length} usable token ids`);
  const distinct = pool.length >= n;
  const rng = new Rng(o.seed ?? 0);
  const tokens: number[][] = [];
  for (let b = 0; b < batch; b++) {
    let r: number[];
    if (distinct) {
      // Partial Fisher-Yates over a lazily copied pool.
      const swap = new Map<number, number>();
      r = [];
      for (let i = 0; i < n; i++) {
        const j = rng.int(i, pool.length);
        const vj = swap.get(j) ?? pool[j], vi = swap.get(i) ?? pool[i];
        swap.set(j, vi);
        r.push(vj);
      }
    } else {
      r = Array.from({ length: n }, () => pool[rng.int(0, pool.length)]);
    }
    tokens.push([...(useBos ? [bos!] : []), ...r, ...r]);
  }
  return { tokens, n, offset, distinct };
}

/**
 * A detector's score of one head from its attention pattern on one sequence: `pattern` is the
 * row-major [T][T] matrix (destination rows). The reference definition; `detectHeads` computes
 * the same thing batched on the device.
 */
export function detectorScore(pattern: ArrayLike<number>, T: number, n: number, offset: number, kind: DetectorName): number {
  if (T !== offset + 2 * n) throw new Error(`heads: a pattern of ${T} positions is not a repeated sequence of ${n} tokens at offset ${offset}`);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = offset + n + i;
    s += pattern[d * T + detectorSource(kind, d, n)];
  }
  return s / n;
}

/** [T, T] 0/1 mask selecting (d, source(d)) for the second-copy destinations. */
function detectorMask(kind: DetectorName, T: number, n: number, offset: number): Float32Array {
  const m = new Float32Array(T * T);
  for (let i = 0; i < n; i++) {
    const d = offset + n + i;
    m[d * T + detectorSource(kind, d, n)] = 1;
  }
  return m;
}

export type ScoreMatrix = number[][]; // [layer][head]

export interface HeadScores {
  n: number;
  offset: number;
  batch: number;
  distinct: boolean;
  scores: Record<DetectorName, ScoreMatrix>;
}

/** Every head's three scores on a repeated-token batch (one forward, the patterns reduced on the device, one read). */
export async function detectHeads(model: HookedTransformer, rep: RepeatedTokens): Promise<HeadScores> {
  const { nLayers, nHeads } = model.cfg;
  const B = rep.tokens.length;
  const T = rep.offset + 2 * rep.n;
  if (B === 0 || rep.tokens.some((r) => r.length !== T)) throw new Error(`heads: every sequence must have ${T} tokens`);
  const scores = Object.fromEntries(DETECTORS.map((k) => [k, Array.from({ length: nLayers }, () => new Array<number>(nHeads).fill(0))])) as Record<DetectorName, ScoreMatrix>;
  const masks = tf.tensor4d(DETECTORS.flatMap((k) => [...detectorMask(k, T, rep.n, rep.offset)]), [DETECTORS.length, 1, 1, T * T]);
  const sums: tf.Tensor[] = [];
  try {
    const hooks: HookSpec[] = Array.from({ length: nLayers }, (_, l) => [hook.pattern(l), (x: tf.Tensor) => {
      // x [B, H, T, T] -> per detector: sum over batch and the selected cells -> [3, H], kept until the read
      sums[l]?.dispose();
      sums[l] = tf.keep(tf.tidy(() => tf.sum(tf.mul(tf.expandDims(tf.reshape(x, [B, nHeads, T * T]), 0), masks), [1, 3])));
    }]);
    tf.dispose(model.runWithHooks(rep.tokens, hooks));
    const all = tf.tidy(() => tf.stack(sums)); // [nLayers, 3, H]
    let v: number[][][];
    try {
      v = (await all.array()) as number[][][];
    } finally {
      all.dispose();
    }
    for (let l = 0; l < nLayers; l++) DETECTORS.forEach((k, i) => { scores[k][l] = v[l][i].map((x) => x / (B * rep.n)); });
  } finally {
    masks.dispose();
    tf.dispose(sums);
  }
  return { n: rep.n, offset: rep.offset, batch: B, distinct: rep.distinct, scores };
}

/** The k best heads of a score matrix, best first. */
export function topHeads(m: ScoreMatrix, k = 3): (HeadRef & { name: string; score: number })[] {
  const all = m.flatMap((row, layer) => row.map((score, head) => ({ layer, head, name: headName({ layer, head }), score })));
  return all.sort((a, b) => b.score - a.score).slice(0, k);
}

/**
 * One score's layer x head heatmap on the sequential scale over [0, 1] (the scores are mean
 * attention weights: 0 white, 1 dark red), each cell's score in its tooltip.
 */
export function headScoreSvg(kind: DetectorName, m: ScoreMatrix): string {
  return heatmapSvg({
    values: m, rowLabels: m.map((_, l) => `L${l}`), colLabels: (m[0] ?? []).map((_, h) => `H${h}`),
    title: `${kind} score`, subtitle: DETECTOR_DESCRIPTIONS[kind],
    yLabel: 'layer', xLabel: 'head', scale: 'sequential', domain: [0, 1], valueLabel: 'mean attention',
    tooltip: (i, j, v) => `a${i}.h${j} ${kind} score: ${fmtNum(v)}`,
  });
}
