/**
 * The backward that frees as it goes (src/model/backprop.ts) and the chunk budget for backwards
 * (src/patching/budget.ts backwardRowBytes).
 * - Against tfjs's stock Engine.gradients, switched back in for the comparison: the edge-masked
 *   mask gradient and the attribution gradient of ioi-words (6 IOI prompts) are bit for bit the
 *   same, and so are small functions that stress the bookkeeping: a caller's dy (left usable),
 *   several xs sharing a path, a gradient that hands dy straight on, tf.customGrad, and a
 *   second-order gradient (which keeps the stock path) against its closed form.
 * - Nothing leaks (tf.memory().numTensors).
 * - Memory, counted as the bytes of distinct live buffers (each dataId once, from its creation
 *   to the backend freeing it; tf.memory().numBytes counts shared buffers once per tensor): the
 *   peak of one mask gradient on ioi-words is at most 0.6 of the stock backward's, and per row
 *   the freeing backward stays within backwardRowBytes on ioi-words and on the Hugging Face
 *   GPT-2 fixture (vocabulary 50,257, d_model 64), for the mask gradient and for attribution;
 *   the stock backward's mask gradient does not (so the measure can fail).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { freeingBackprop } from '../../src/model/backprop.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { tokenizerFor } from '../../src/model/tokenizer.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import { ablationFor } from '../../src/patching/ablation.js';
import { makeObjective, type Objective } from '../../src/patching/objective.js';
import { backwardRowBytes } from '../../src/patching/budget.js';
import { getTask } from '../../src/tasks/registry.js';
import type { TaskBatch } from '../../src/tasks/types.js';
import { FIXTURE_MODEL } from '../fixture.js';
import { expectNoLeak } from '../helpers.js';

const ioiTask = getTask('ioi');
let ioi: HookedTransformer, hf: HookedTransformer;

beforeAll(async () => {
  await initBackend('wasm');
  ioi = (await loadModel('ioi-words', { quiet: true })).model;
  hf = (await loadModel(FIXTURE_MODEL, { quiet: true })).model;
});
afterAll(() => { freeingBackprop(true); ioi?.dispose(); hf?.dispose(); });

/** Run `fn` with the stock (false) or freeing (true) backward, then leave the freeing one on. */
async function withBackprop<T>(freeing: boolean, fn: () => T | Promise<T>): Promise<T> {
  freeingBackprop(freeing);
  try { return await fn(); } finally { freeingBackprop(true); }
}

/**
 * The peak of the distinct live buffers' bytes above the start while `fn` runs: each dataId
 * counted once from the tensor that creates it until the backend frees it (tfjs internals:
 * Engine.trackTensor and the backend's disposeData, wrapped for the call).
 */
async function peakBytes(fn: () => Promise<unknown>): Promise<number> {
  const eng = tf.engine() as unknown as { trackTensor(a: tf.Tensor, b: unknown): void };
  const be = tf.backend() as unknown as { disposeData(id: object, force?: boolean): boolean };
  const track = eng.trackTensor, dispose = be.disposeData;
  const bufs = new Map<object, number>();
  let live = 0, peak = 0;
  eng.trackTensor = function (a, b) {
    track.call(this, a, b);
    const id = (a as unknown as { dataId: object }).dataId;
    if (!bufs.has(id)) { const n = a.size * 4; bufs.set(id, n); live += n; peak = Math.max(peak, live); }
  };
  be.disposeData = function (id, force) {
    const freed = dispose.call(this, id, force);
    if (freed && bufs.has(id)) { live -= bufs.get(id)!; bufs.delete(id); }
    return freed;
  };
  try { await fn(); } finally { eng.trackTensor = track; be.disposeData = dispose; }
  return peak;
}

interface Setup { engine: PatchingEngine; objective: Objective; batch: TaskBatch; mask: Float32Array; clean: tf.Tensor3D }

async function setup(model: HookedTransformer, n: number): Promise<Setup> {
  const batch = ioiTask.build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n, seed: 3 });
  const engine = new PatchingEngine(model, batch.clean, ablationFor('resample', batch), { positions: batch.positions, attribution: true });
  const clean = await engine.cleanLogits();
  const objective = makeObjective('task', ioiTask, batch, clean);
  const mask = engine.fullMask().map((x, i) => x * (0.3 + 0.5 * ((i * 7919) % 101) / 101));
  return { engine, objective, batch, mask, clean };
}
const teardown = (s: Setup) => { s.objective.dispose(); s.clean.dispose(); s.engine.dispose(); };

describe('backward that frees as it goes', () => {
  it('gives tfjs\'s stock gradients bit for bit: the mask gradient and attribution of ioi-words', async () => {
    const s = await setup(ioi, 6);
    try {
      const run = async () => ({ mask: await s.engine.maskGradient(s.objective, s.mask), attr: await s.engine.attribute(s.objective, [0.5, 1]) });
      const stock = await withBackprop(false, run);
      const mine = await expectNoLeak(() => withBackprop(true, run), 'freeing backward');
      expect(mine.mask.value).toBe(stock.mask.value);
      expect(Array.from(mine.mask.grad)).toEqual(Array.from(stock.mask.grad));
      expect(Array.from(mine.attr.grad)).toEqual(Array.from(stock.attr.grad));
      expect(stock.mask.grad.some((g) => g !== 0)).toBe(true);
    } finally { teardown(s); }
  });

  it('keeps the caller\'s dy, several xs, a gradient that hands dy on, customGrad; second order keeps the stock path', async () => {
    const cases = () => tf.tidy(() => {
      const x = tf.tensor1d([0.5, -1.2, 2.0]), w = tf.tensor1d([1.5, 0.25, -0.75]), dy = tf.tensor1d([1, 2, 3]);
      // a shared intermediate read twice, an add whose gradient is dy itself, a caller's dy
      const f = (a: tf.Tensor, b: tf.Tensor) => { const h = tf.mul(a, b); return tf.add(tf.mul(h, h), tf.add(h, a)); };
      const [ga, gb] = tf.grads(f)([x, w], dy);
      const dyAfter = dy.dataSync().slice(); // still readable: the backward did not free it
      const square = tf.customGrad((a: tf.Tensor, save: tf.GradSaveFunc) => { save([a]); return { value: tf.square(a), gradFunc: (d: tf.Tensor, saved: tf.Tensor[]) => tf.mul(d, tf.mul(saved[0], 2)) }; });
      const gc = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(square(a), w)))(x);
      const second = tf.grad((a: tf.Tensor) => tf.grad((b: tf.Tensor) => tf.sum(tf.pow(b, 3)))(a))(x); // d/dx sum(3x^2) = 6x
      return [ga, gb, gc, second].map((t) => Array.from(t.dataSync())).concat([Array.from(dyAfter)]);
    });
    const stock = await withBackprop(false, cases);
    const mine = await expectNoLeak(() => withBackprop(true, cases), 'small backwards');
    expect(mine).toEqual(stock);
    // closed forms: d/da sum(dy ((ab)^2 + ab + a)) = dy (2ab^2 + b + 1); the custom square: 2 a w; second order: 6x
    const x = [0.5, -1.2, 2.0], w = [1.5, 0.25, -0.75], dy = [1, 2, 3];
    x.forEach((a, i) => {
      expect(mine[0][i]).toBeCloseTo(dy[i] * (2 * a * w[i] * w[i] + w[i] + 1), 5);
      expect(mine[1][i]).toBeCloseTo(dy[i] * (2 * a * a * w[i] + a), 5);
      expect(mine[2][i]).toBeCloseTo(2 * a * w[i], 5);
      expect(mine[3][i]).toBeCloseTo(6 * a, 4);
    });
    expect(mine[4]).toEqual(dy);
  });
});

describe('memory of a backward, and the chunk budget for it', () => {
  it('the mask gradient on ioi-words peaks at most 0.6 of the stock backward', async () => {
    const s = await setup(ioi, 6);
    try {
      const stock = await withBackprop(false, () => peakBytes(() => s.engine.maskGradient(s.objective, s.mask)));
      const mine = await peakBytes(() => s.engine.maskGradient(s.objective, s.mask));
      process.stderr.write(`backprop: ioi-words mask gradient, 6 rows: peak ${(mine / 2 ** 20).toFixed(1)} MB freeing vs ${(stock / 2 ** 20).toFixed(1)} MB stock\n`);
      expect(mine).toBeLessThanOrEqual(0.6 * stock);
    } finally { teardown(s); }
  });

  for (const [name, model] of [['ioi-words', () => ioi], ['the GPT-2 fixture', () => hf]] as const) {
    it(`per row within backwardRowBytes on ${name} (mask gradient, attribution); the stock mask gradient is not (ioi-words)`, async () => {
      const n = 6;
      const s = await setup(model(), n);
      try {
        const T = Math.max(...s.batch.clean.map((r) => r.length));
        const cfg = s.engine.model.cfg;
        const mask = await peakBytes(() => s.engine.maskGradient(s.objective, s.mask));
        const attr = await peakBytes(() => s.engine.attribute(s.objective, [1]));
        const budget = { mask: backwardRowBytes(cfg, T, 'mask'), attribution: backwardRowBytes(cfg, T, 'attribution') };
        process.stderr.write(`backprop: ${name}, ${T} tokens: a row's peak ${(mask / n / 2 ** 20).toFixed(2)} MB mask gradient (budget ${(budget.mask / 2 ** 20).toFixed(2)}), ${(attr / n / 2 ** 20).toFixed(2)} MB attribution (budget ${(budget.attribution / 2 ** 20).toFixed(2)})\n`);
        expect(mask / n).toBeLessThanOrEqual(budget.mask);
        expect(attr / n).toBeLessThanOrEqual(budget.attribution);
        if (name === 'ioi-words') {
          const stock = await withBackprop(false, () => peakBytes(() => s.engine.maskGradient(s.objective, s.mask)));
          expect(stock / n).toBeGreaterThan(budget.mask);
        }
      } finally { teardown(s); }
    });
  }
});
