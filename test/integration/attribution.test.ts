/**
 * Attribution from a plain forward and backward (src/patching/attribution.ts) against the probe
 * gradient through the edge-masked forward (engine.runTensor with a zero-valued probe, itself
 * checked against the per-edge formula in discovery.test.ts): every edge's d metric / d probe
 * within TOL.model (1e-4) relative to the largest |gradient|, for EAP (alpha 1) and EAP-IG steps
 * (alpha 0, 0.5: input edges scaled), on GPT-2 (LN, MLPs, the HF fixture), a toy model with a
 * split embedding, and a shortformer model (split and not), under resample, zero and mean
 * ablation. Also the analytic LayerNorm backward against tfjs' autodiff.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { layerNorm } from '../../src/model/components.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import type { Ablation } from '../../src/patching/ablation.js';
import { attributionGradient, layerNormBackward } from '../../src/patching/attribution.js';
import { answerLogProb } from '../../src/tasks/metrics.js';
import { Rng } from '../../src/util/rng.js';
import { patchingSubjects, disposeSubjects, type Subject } from '../subjects.js';
import { TOL, expectClose, expectNoLeak } from '../helpers.js';

let subjects: Subject[] = [];

beforeAll(async () => {
  await initBackend('wasm');
  subjects = await patchingSubjects(5);
});
afterAll(() => disposeSubjects(subjects));

const ablations = (s: Subject): [string, Ablation][] => [
  ['resample', { kind: 'resample', corrupt: s.corrupt }],
  ['zero', { kind: 'zero' }],
  ['mean', { kind: 'mean', reference: [...s.corrupt, ...s.clean] }],
];

/** d metric / d probe through the edge-masked forward, mean over the masks' circuits. */
function probeGradient(eng: PatchingEngine, metric: (l: tf.Tensor4D) => tf.Scalar, alphas: number[]): Float32Array {
  const R = eng.layout.receivers.length, S = eng.layout.senders.length;
  const full = eng.fullMask();
  const all = new Float32Array(alphas.length * R * S);
  alphas.forEach((a, k) => {
    const m = full.slice();
    for (let r = 0; r < R; r++) for (let s = 0; s < eng.layout.nIn; s++) m[r * S + s] *= a;
    all.set(m, k * R * S);
  });
  return tf.tidy(() => {
    const masks = tf.tensor3d(all, [alphas.length, R, S]);
    const probe = tf.zeros([1, R, S]);
    // mean over circuits of the per-circuit metric
    const f = (p: tf.Tensor) => {
      const logits = eng.runTensor(masks, { probe: p as tf.Tensor3D });
      const [C, B, K, V] = logits.shape;
      const parts = Array.from({ length: C }, (_, c) => metric(tf.reshape(tf.slice(logits, [c, 0, 0, 0], [1, B, K, V]), [1, B, K, V]) as tf.Tensor4D));
      return tf.div(tf.addN(parts), C) as tf.Scalar;
    };
    return tf.grad(f)(probe).dataSync() as Float32Array;
  });
}

describe('attribution from a plain forward and backward', () => {
  it('equals the probe gradient through the edge-masked forward (EAP and EAP-IG steps, every ablation)', async () => {
    const rng = new Rng(9);
    for (const s of subjects) {
      const T = s.clean[0].length;
      const positions = s.clean.map(() => [T - 2, T - 1]);
      const answers = s.clean.map(() => [rng.int(0, s.model.cfg.dVocabOut), rng.int(0, s.model.cfg.dVocabOut)]);
      const metric = (l: tf.Tensor4D) => answerLogProb(tf.squeeze(l, [0]) as tf.Tensor3D, answers);
      for (const [name, ab] of ablations(s)) {
        for (const attribution of [true, false]) {
          const eng = new PatchingEngine(s.model, s.clean, ab, { splitEmbed: s.splitEmbed, positions, attribution });
          for (const alphas of [[1], [0, 0.5]]) {
            const fast = await attributionGradient(eng, metric, alphas);
            const slow = probeGradient(eng, metric, alphas);
            const big = Math.max(...Array.from(slow, Math.abs));
            expect(big, `${s.name}/${name} gradient scale`).toBeGreaterThan(1e-3);
            let worst = 0;
            for (let i = 0; i < slow.length; i++) worst = Math.max(worst, Math.abs(fast[i] - slow[i]));
            expect(worst / big, `${s.name}/${name}/alpha ${alphas} (kept deltas: ${attribution})`).toBeLessThan(TOL.model);
          }
          eng.dispose();
        }
      }
    }
  });

  it("cleanLogits (a plain forward at the metric positions) equals the full circuit's run (1e-4 of the logits' scale)", () => {
    for (const s of subjects) {
      const T = s.clean[0].length;
      const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt }, { splitEmbed: s.splitEmbed, positions: s.clean.map(() => [0, T - 1]) });
      const plain = eng.cleanLogits();
      const full = tf.tidy(() => tf.squeeze(eng.run([eng.fullMask()]), [0]));
      expect(plain.shape).toEqual([s.clean.length, 2, s.model.cfg.dVocabOut]);
      const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(full)).dataSync()[0]));
      expectClose(plain, full, TOL.model * scale, `${s.name} clean logits`);
      tf.dispose([plain, full]);
      eng.dispose();
    }
  });

  it('the analytic LayerNorm backward equals autodiff (1e-5)', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([4, 5, 16], 0.3, 2, 'float32', 1);
      const w = tf.randomNormal([16], 1, 0.3, 'float32', 2);
      const b = tf.randomNormal([16], 0, 0.3, 'float32', 3);
      const dy = tf.randomNormal([4, 5, 16], 0, 1, 'float32', 4);
      const auto = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layerNorm(v, w, b, 1e-5).out, dy)))(x);
      const centered = tf.sub(x, tf.mean(x, -1, true));
      const scale = tf.sqrt(tf.add(tf.mean(tf.square(centered), -1, true), 1e-5));
      expectClose(layerNormBackward(dy, tf.div(centered, scale), scale, w), auto, TOL.component, 'LN backward');
      const autoPre = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layerNorm(v, null, null, 1e-5).out, dy)))(x);
      expectClose(layerNormBackward(dy, tf.div(centered, scale), scale, null), autoPre, TOL.component, 'LNPre backward');
    });
  });

  it('leaks no tensors', async () => {
    const s = subjects[0];
    const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt }, { attribution: true });
    const answers = s.clean.map(() => Array.from({ length: s.clean[0].length }, () => 1));
    const metric = (l: tf.Tensor4D) => answerLogProb(tf.squeeze(l, [0]) as tf.Tensor3D, answers);
    await attributionGradient(eng, metric, [1]);
    await expectNoLeak(async () => { for (let i = 0; i < 3; i++) await attributionGradient(eng, metric, [0, 0.5]); }, 'attribution');
    eng.dispose();
  });
});
