/**
 * Induction: a random token sequence repeated once, [BOS, r1..rL, r1..rL]; from the second
 * copy on, each next token is predictable by induction. Works for any model: token ids are
 * drawn uniformly from the model's vocabulary (ids that are also valid outputs, minus the BOS
 * id); GPT-2 keeps to the ordinary BPE tokens below 50256. A BOS is prepended when the
 * tokenizer has one (toy id models without a BOS get none).
 *
 * ACDC's induction task (docs/tasks.md "Induction") runs redwood_attn_2l on stored natural-text
 * sequences with a mask of repeat positions; that data is a download, so this task builds its
 * own repeats. Corruption follows ACDC: a seeded derangement of the rows (each row is patched
 * from another row's sequence, also a repeat of different tokens).
 *
 * Metric positions: with the sequence at token offset o (1 with a BOS, 0 without), the L-1
 * positions o+L .. o+2L-2 of the second copy, which predict r2..rL. L is 20, or less when
 * the model's context is shorter (2L + o <= nCtx). Metrics:
 * mean log-probability of the next token (negative loss; primary), KL(clean || patched) and
 * accuracy, each averaged over those positions.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.js';
import { accuracy, answerLogProb, klDivergence } from './metrics.js';
import type { BuildContext, Task, TaskBatch, TaskMetric } from './types.js';

/** Default repeated-sequence length; capped so that the prompt fits the model's context. */
export const INDUCTION_SEQ_LEN = 20;
/** GPT-2 ids at or above this are special (50256 = <|endoftext|>). */
const GPT2_ORDINARY = 50256;

export function inductionLength(nCtx: number, hasBos: boolean, want = INDUCTION_SEQ_LEN): number {
  return Math.min(want, Math.floor((nCtx - (hasBos ? 1 : 0)) / 2));
}

/** A derangement of 0..n-1 (n >= 2) from the seeded Rng. */
export function derangement(rng: Rng, n: number): number[] {
  if (n < 2) throw new Error(`induction: a corrupted batch needs at least 2 rows (rows are patched from other rows), got ${n}`);
  for (;;) {
    const p = rng.perm(n);
    if (p.every((j, i) => j !== i)) return p;
  }
}

const metric = (logits: tf.Tensor3D, b: TaskBatch) => answerLogProb(logits, b.answers);

export const INDUCTION_METRICS: readonly TaskMetric[] = Object.freeze([
  { name: 'logprob', description: 'mean log-probability of the next token over the repeated positions (negative loss)', higherIsBetter: true, needsClean: false, compute: metric },
  {
    name: 'kl', description: 'KL(clean || patched), averaged over the repeated positions', higherIsBetter: false, needsClean: true,
    compute: (l: tf.Tensor3D, _b: TaskBatch, clean?: tf.Tensor3D) => {
      if (!clean) throw new Error('induction: the kl metric needs the clean logits');
      return klDivergence(clean, l);
    },
  },
  { name: 'accuracy', description: 'fraction of repeated positions whose argmax is the next token', higherIsBetter: true, needsClean: false, compute: (l: tf.Tensor3D, b: TaskBatch) => accuracy(l, b.answers) },
]);

function build(ctx: BuildContext, { n, seed }: { n: number; seed: number }): TaskBatch {
  if (!Number.isInteger(n) || n < 2) throw new Error(`induction: n must be an integer >= 2 (rows are corrupted with other rows), got ${n}`);
  const { cfg, tokenizer: tok } = ctx;
  const bos = tok.bosTokenId;
  const L = inductionLength(cfg.nCtx, bos !== null);
  if (L < 2) throw new Error(`induction: the model's context (nCtx ${cfg.nCtx}) is too short for a repeated sequence (needs at least ${bos !== null ? 5 : 4} tokens)`);
  let hi = Math.min(cfg.dVocab, cfg.dVocabOut);
  if (tok.name === 'gpt2') hi = Math.min(hi, GPT2_ORDINARY);
  const pool = Array.from({ length: hi }, (_, i) => i).filter((i) => i !== bos);
  if (pool.length < 2) throw new Error(`induction: the model's vocabulary has ${pool.length} usable token ids`);
  const rng = new Rng(seed);
  const o = bos !== null ? 1 : 0;
  const clean: number[][] = [];
  for (let i = 0; i < n; i++) {
    const r = Array.from({ length: L }, () => pool[rng.int(0, pool.length)]);
    clean.push([...(bos !== null ? [bos] : []), ...r, ...r]);
  }
  const perm = derangement(rng, n);
  const positions = Array.from({ length: L - 1 }, (_, j) => o + L + j);
  return {
    clean,
    corrupt: perm.map((j) => [...clean[j]]),
    positions: clean.map(() => [...positions]),
    answers: clean.map((row) => positions.map((p) => row[p + 1])),
    wrong: clean.map(() => positions.map(() => [])),
    meta: { seqLen: L, offset: o, corruptFrom: perm },
  };
}

export const inductionTask: Task = Object.freeze({
  name: 'induction',
  description: 'induction: a random token sequence repeated once (with BOS); next-token log-prob / KL over the second copy; rows corrupted with other rows',
  defaultModel: 'gpt2',
  fallbackModel: null,
  build,
  metric,
  metricName: 'logprob',
  metrics: INDUCTION_METRICS,
});
