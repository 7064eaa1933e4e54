/**
 * The shipped permute-lists model: 2 layers, one head each, attention-only, no LayerNorm, biases
 * frozen at zero, learned positions (the shape of the shared permute_lists toy model, smaller),
 * trained on the task generator of src/tasks/toy/generators.ts (a fresh permutation per row).
 *
 * Held-out lists: one list (a0, a1, a2) in ten, picked by a hash of its index, is never
 * trained on; the reported accuracy is measured on fresh draws of such lists only.
 */
import * as tf from '@tensorflow/tfjs';
import { finalizeConfig, type ModelConfig } from '../model/config.js';
import { permuteLists, type ToyBatch } from '../tasks/toy/generators.js';
import { initStateDict } from './init.js';
import { TrainableModel } from './forward.js';
import { train, type TrainBatch, type TrainResult } from './train.js';

export const PERMUTE_NAME = 'permute-lists-2l';

export interface PermuteRecipe {
  seed: number;
  dModel: number;
  steps: number;
  batch: number;
  lr: number;
  weightDecay: number;
}

export const PERMUTE_RECIPE: PermuteRecipe = { seed: 0, dModel: 64, steps: 1000, batch: 128, lr: 3e-3, weightDecay: 0.01 };

export function permuteConfig(dModel: number): ModelConfig {
  return finalizeConfig({
    modelName: PERMUTE_NAME, nLayers: 2, nHeads: 1, dModel, dHead: dModel, nCtx: 12, dVocab: 53, dVocabOut: 50,
    attnOnly: true, normalizationType: null, positionalEmbeddingType: 'standard', tokenizerName: null,
    defaultPrependBos: false,
  }, PERMUTE_NAME);
}

/** True for the lists never trained on. */
export function isHeldOutList(a0: number, a1: number, a2: number): boolean {
  const h = Math.imul((a0 * 50 + a1) * 50 + a2 + 1, 0x9e3779b1) >>> 0;
  return (h >>> 16) % 10 === 0;
}

/** `n` rows of the permute-lists task, only held-out lists (`heldOut`) or only training lists. */
export function permuteRows(n: number, seed: number, heldOut: boolean): ToyBatch {
  const out: ToyBatch = { tokens: [], positions: [8, 9, 10], labels: [] };
  for (let k = 0; out.tokens.length < n; k++) {
    const b = permuteLists(Math.max(64, 2 * n), seed * 1009 + k);
    b.tokens.forEach((row, i) => {
      if (out.tokens.length < n && isHeldOutList(row[1], row[2], row[3]) === heldOut) { out.tokens.push(row); out.labels.push(b.labels[i]); }
    });
  }
  return out;
}

export function toTrainBatch(b: ToyBatch): TrainBatch {
  return {
    tokens: b.tokens,
    targets: b.tokens.map((row, i) => { const t = row.map(() => -1); b.positions.forEach((p, j) => { t[p] = b.labels[i][j]; }); return t; }),
  };
}

/** argmax accuracy at the scored positions and mean loss there. */
export function toyAccuracy(forward: (tokens: tf.Tensor2D) => tf.Tensor3D, b: ToyBatch, chunk = 1024): { accuracy: number; loss: number } {
  let ok = 0, loss = 0, total = 0;
  const K = b.positions.length;
  for (let s = 0; s < b.tokens.length; s += chunk) {
    const rows = b.tokens.slice(s, s + chunk);
    const labels = b.labels.slice(s, s + chunk);
    const [hits, nll] = tf.tidy(() => {
      const logits = forward(tf.tensor2d(rows, undefined, 'int32'));
      const at = tf.gather(logits, tf.tensor1d(b.positions, 'int32'), 1); // [n, K, V]
      const y = tf.tensor2d(labels, [rows.length, K], 'int32');
      const hit = tf.sum(tf.cast(tf.equal(tf.argMax(at, -1), y), 'float32'));
      const lp = tf.sum(tf.mul(tf.logSoftmax(at, -1), tf.oneHot(y, at.shape[2])));
      return [hit, lp];
    });
    ok += hits.dataSync()[0]; loss -= nll.dataSync()[0]; total += rows.length * K;
    tf.dispose([hits, nll]);
  }
  return { accuracy: ok / total, loss: loss / total };
}

export interface TrainedToy {
  model: TrainableModel;
  result: TrainResult;
  heldOut: { accuracy: number; loss: number; n: number; seed: number };
}

export function trainPermuteLists(r: PermuteRecipe = PERMUTE_RECIPE, log: (s: string) => void = () => {}): TrainedToy {
  const cfg = permuteConfig(r.dModel);
  // Biases stay at zero, as in the shared model.
  const model = new TrainableModel(cfg, initStateDict(cfg, r.seed), (n) => !/\.b_|b_U$/.test(n));
  const evalSeed = 1_000_000 + r.seed;
  const evalSet = permuteRows(2048, evalSeed, true);
  const result = train(model, {
    steps: r.steps, lr: r.lr, weightDecay: r.weightDecay,
    batch: (step) => toTrainBatch(permuteRows(r.batch, r.seed * 100_003 + step, false)),
    evaluate: () => { const m = toyAccuracy((t) => model.forward(t), evalSet); return { heldOutAcc: m.accuracy, heldOutLoss: m.loss }; },
    evalEvery: 250,
    log,
  });
  const finalSeed = 2_000_000 + r.seed;
  const fin = toyAccuracy((t) => model.forward(t), permuteRows(10_000, finalSeed, true));
  return { model, result, heldOut: { ...fin, n: 10_000, seed: finalSeed } };
}
