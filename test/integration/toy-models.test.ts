/**
 * The four externally trained TransformerLens toy models (../shared/models): .pt and
 * .safetensors give identical weights (checked in loaders.test.ts); here the forward
 * reproduces each sample.json's logits and each model reaches its published accuracy.
 * Tolerance on logits: |ours - theirs| <= 1e-4 + 1e-5 max|row| (the file rounds to 6
 * significant digits, and float32 forwards agree to ~3e-6 of the row's scale: sort's logits
 * reach ~1000, where two float32 forwards differ by ~2e-3).
 */
import { beforeAll, describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { TOY_GENERATORS, minIntAll, type ToyBatch, type ToyTaskName } from '../../src/tasks/toy/generators.js';
import { SHARED } from '../helpers.js';

interface Sample { tokens: number[][]; pred_positions: number[]; labels: number[][]; logits: number[][][]; accuracy: number }

const MODELS: [dir: string, task: ToyTaskName, minAcc: number][] = [
  ['min_int', 'min-int', 0.998],
  ['majority_element', 'majority-element', 0.99],
  ['sort_fixed_len_list', 'sort', 0.99],
  ['permute_lists', 'permute-lists', 0.999],
];

/** argmax accuracy at the scored positions, in chunks. */
function accuracy(model: HookedTransformer, batch: ToyBatch, chunk = 512): number {
  let ok = 0, total = 0;
  for (let s = 0; s < batch.tokens.length; s += chunk) {
    const rows = batch.tokens.slice(s, s + chunk);
    const pred = tf.tidy(() => tf.argMax(model.forward(rows), -1).arraySync() as number[][]);
    rows.forEach((_, i) => batch.positions.forEach((p, j) => { ok += Number(pred[i][p] === batch.labels[s + i][j]); total++; }));
  }
  return ok / total;
}

beforeAll(async () => { await initBackend('wasm'); });

describe.each(MODELS)('toy model %s', (dir, task, minAcc) => {
  const path = `${SHARED}models/${dir}`;
  it('reproduces sample.json logits', async () => {
    const { model } = await loadModel(path, { quiet: true });
    try {
      const s = JSON.parse(readFileSync(`${path}/sample.json`, 'utf8')) as Sample;
      const logits = model.forward(s.tokens);
      const ours = logits.arraySync() as number[][][];
      logits.dispose();
      let worst = 0;
      s.tokens.forEach((_, i) => s.pred_positions.forEach((p, j) => {
        const scale = Math.max(...s.logits[i][j].map(Math.abs));
        s.logits[i][j].forEach((v, k) => {
          worst = Math.max(worst, Math.abs(ours[i][p][k] - v) - (1e-4 + 1e-5 * scale));
        });
      }));
      expect(worst, 'logit error beyond 1e-4 + 1e-5 max|row|').toBeLessThanOrEqual(0);
    } finally { model.dispose(); }
  });

  it(`reaches its published accuracy (>= ${minAcc})`, async () => {
    const { model } = await loadModel(path, { quiet: true });
    try {
      const batch = task === 'min-int' ? minIntAll() : TOY_GENERATORS[task](2048, 1);
      const acc = accuracy(model, batch);
      expect(acc).toBeGreaterThanOrEqual(minAcc);
    } finally { model.dispose(); }
  });
});
