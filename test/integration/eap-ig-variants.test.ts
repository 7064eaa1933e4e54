/**
 * EAP-IG's two MIB variants (src/discovery/eap-ig.ts, src/patching/attribution.ts):
 * - EAP-IG-activations with one step (alpha = 1) is EAP: every edge's gradient within TOL.model
 *   (1e-4) of the largest, on GPT-2 (the HF fixture), a split-embedding toy and a shortformer
 *   model (split and not), under resample and zero ablation.
 * - Against an independent reference: the probe gradient through the edge-masked forward
 *   (engine.runTensor), with each sender group's edges scaled by alpha = k/m (the masked-forward
 *   way of interpolating that group's output), averaged over k = 1..m and kept for the group's
 *   own edges; within TOL.model relative to the largest gradient, m = 3, every ablation.
 * - Per group, completeness of the path integral: the scores of a group's edges sum to
 *   metric(group ablated) - metric(clean), measured by two masked forwards (3% at 64 steps; the
 *   right Riemann sum's error is O(1/m); 1 step misses by more for some group).
 * - `eap-ig-inputs` is `eap-ig` (same scores); on min_int (zero ablation) EAP-IG-activations'
 *   top 4 is the published circuit; no tensors leak.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import type { Ablation } from '../../src/patching/ablation.js';
import { attributionGradient } from '../../src/patching/attribution.js';
import { makeObjective } from '../../src/patching/objective.js';
import { eapIgActivations } from '../../src/discovery/eap-ig.js';
import { discover } from '../../src/discovery/run.js';
import { methodFlags, getMethod } from '../../src/discovery/registry.js';
import { circuitEdgeKeys } from '../../src/graph/circuit-file.js';
import type { PatchLayout } from '../../src/graph/layout.js';
import { getTask } from '../../src/tasks/registry.js';
import { permuteLists } from '../../src/tasks/toy/generators.js';
import { answerLogProb, pick } from '../../src/tasks/metrics.js';
import type { TaskBatch } from '../../src/tasks/types.js';
import { Rng } from '../../src/util/rng.js';
import { patchingSubjects, disposeSubjects, type Subject } from '../subjects.js';
import { SHARED, TOL, expectNoLeak } from '../helpers.js';

let subjects: Subject[] = [];
let minInt: HookedTransformer;

beforeAll(async () => {
  await initBackend('wasm');
  subjects = await patchingSubjects(11);
  minInt = (await loadModel(`${SHARED}models/min_int`, { quiet: true })).model;
});
afterAll(() => { disposeSubjects(subjects); minInt?.dispose(); });

const ablations = (s: Subject): [string, Ablation][] => [
  ['resample', { kind: 'resample', corrupt: s.corrupt }],
  ['zero', { kind: 'zero' }],
  ['mean', { kind: 'mean', reference: [...s.corrupt, ...s.clean] }],
];

/** The sender groups EAP-IG-activations interpolates: columns [c0, c1) of the layout. */
function groups(lay: PatchLayout): [number, number][] {
  const out: [number, number][] = [[0, lay.nIn]];
  for (let l = 0; l < lay.cfg.nLayers; l++) {
    const a = lay.sendersBeforeAttn(l);
    out.push([a, a + lay.cfg.nHeads]);
    if (!lay.cfg.attnOnly) out.push([lay.mlpCol(l), lay.mlpCol(l) + 1]);
  }
  return out;
}

/**
 * The reference: for each group, d metric / d probe through the edge-masked forward with the
 * group's edges scaled by each alpha (mean over the alphas' circuits), kept on the group's columns.
 */
function probeReference(eng: PatchingEngine, metric: (l: tf.Tensor4D) => tf.Scalar, alphas: number[]): Float32Array {
  const lay = eng.layout;
  const R = lay.receivers.length, S = lay.senders.length;
  const full = eng.fullMask();
  const out = new Float32Array(R * S);
  for (const [c0, c1] of groups(lay)) {
    const all = new Float32Array(alphas.length * R * S);
    alphas.forEach((a, k) => {
      const m = full.slice();
      for (let r = 0; r < R; r++) for (let s = c0; s < c1; s++) m[r * S + s] *= a;
      all.set(m, k * R * S);
    });
    const g = tf.tidy(() => {
      const masks = tf.tensor3d(all, [alphas.length, R, S]);
      const f = (p: tf.Tensor) => {
        const logits = eng.runTensor(masks, { probe: p as tf.Tensor3D });
        const [C, B, K, V] = logits.shape;
        const parts = Array.from({ length: C }, (_, c) => metric(tf.reshape(tf.slice(logits, [c, 0, 0, 0], [1, B, K, V]), [1, B, K, V]) as tf.Tensor4D));
        return tf.div(tf.addN(parts), C) as tf.Scalar;
      };
      return tf.grad(f)(tf.zeros([1, R, S])).dataSync() as Float32Array;
    });
    for (let r = 0; r < R; r++) for (let s = c0; s < c1; s++) out[r * S + s] = g[r * S + s];
  }
  return out;
}

function worstRelative(fast: ArrayLike<number>, slow: ArrayLike<number>, what: string): number {
  const big = Math.max(...Array.from(slow, Math.abs));
  expect(big, `${what}: gradient scale`).toBeGreaterThan(1e-3);
  let worst = 0;
  for (let i = 0; i < slow.length; i++) worst = Math.max(worst, Math.abs(fast[i] - slow[i]));
  return worst / big;
}

function subjectMetric(s: Subject, rng: Rng) {
  const T = s.clean[0].length;
  const positions = s.clean.map(() => [T - 2, T - 1]);
  const answers = s.clean.map(() => [rng.int(0, s.model.cfg.dVocabOut), rng.int(0, s.model.cfg.dVocabOut)]);
  return { positions, metric: (l: tf.Tensor4D) => answerLogProb(tf.squeeze(l, [0]) as tf.Tensor3D, answers) };
}

describe('EAP-IG-activations', () => {
  it('with one step (alpha = 1) equals EAP (TOL.model of the largest gradient)', async () => {
    const rng = new Rng(3);
    for (const s of subjects) {
      const { positions, metric } = subjectMetric(s, rng);
      for (const [name, ab] of ablations(s).slice(0, 2)) {
        const eng = new PatchingEngine(s.model, s.clean, ab, { splitEmbed: s.splitEmbed, positions, attribution: true });
        const acts = await attributionGradient(eng, metric, [1], 'activations');
        const plain = await attributionGradient(eng, metric, [1]);
        expect(worstRelative(acts, plain, `${s.name}/${name}`), `${s.name}/${name}`).toBeLessThan(TOL.model);
        eng.dispose();
      }
    }
  });

  it("equals the probe gradient through the edge-masked forward with each group's edges scaled by k/m (m = 3, every ablation)", async () => {
    const rng = new Rng(4);
    const alphas = [1 / 3, 2 / 3, 1];
    for (const s of subjects) {
      const { positions, metric } = subjectMetric(s, rng);
      for (const [name, ab] of ablations(s)) {
        const eng = new PatchingEngine(s.model, s.clean, ab, { splitEmbed: s.splitEmbed, positions, attribution: true });
        const fast = await attributionGradient(eng, metric, alphas, 'activations');
        const slow = probeReference(eng, metric, alphas);
        expect(worstRelative(fast, slow, `${s.name}/${name}`), `${s.name}/${name}`).toBeLessThan(TOL.model);
        // and it is not EAP-IG-inputs or EAP (the comparison can tell them apart)
        const inputs = await attributionGradient(eng, metric, [0, 1 / 3, 2 / 3]);
        expect(worstRelative(inputs, slow, `${s.name}/${name} inputs`)).toBeGreaterThan(1e-3);
        eng.dispose();
      }
    }
  });

  it("per group, the group's edge scores sum to metric(group ablated) - metric(clean) (3% at 64 steps, where 1 step is not for some)", async () => {
    const model = (await loadModel(`${SHARED}models/permute_lists`, { quiet: true })).model;
    try {
      const a = permuteLists(16, 7), b = permuteLists(16, 8);
      const batch: TaskBatch = { clean: a.tokens, corrupt: b.tokens, positions: a.tokens.map(() => a.positions), answers: a.labels, wrong: a.labels.map((r) => r.map(() => [])) };
      // the answer logit: its gradient does not vanish on a model this confident
      const task = { metricName: 'logit', metric: (l: tf.Tensor3D, bt: TaskBatch) => tf.mean(pick(l, bt.answers)) as tf.Scalar };
      const engine = new PatchingEngine(model, batch.clean, { kind: 'resample', corrupt: batch.corrupt }, { splitEmbed: true, positions: batch.positions, attribution: true });
      const clean = tf.tidy(() => tf.squeeze(engine.run([engine.fullMask()]), [0])) as tf.Tensor3D;
      const objective = makeObjective('task', task, batch, clean);
      clean.dispose();
      try {
        const ctx = { engine, objective };
        const many = await eapIgActivations(ctx, { steps: 64 });
        const one = await eapIgActivations(ctx, { steps: 1 });
        const lay = engine.layout;
        const S = lay.senders.length;
        let checked = 0, nonlinear = 0;
        for (const [c0, c1] of groups(lay)) {
          const ablated = engine.fullMask();
          for (let r = 0; r < lay.receivers.length; r++) for (let s = c0; s < c1; s++) ablated[r * S + s] = 0;
          const logits = await engine.run([engine.fullMask(), ablated]);
          const [mClean, mAblated] = await objective.taskMetric(logits);
          logits.dispose();
          const target = mAblated - mClean;
          const names = new Set(lay.senders.slice(c0, c1));
          const sum = (sc: Map<string, number>) => [...sc].filter(([e]) => names.has(e.split('->')[0])).reduce((x, [, v]) => x + v, 0);
          if (Math.abs(target) < 0.5) continue; // a group that hardly matters says nothing
          checked++;
          expect(Math.abs(sum(many.scores) - target), `${[...names]}: ${sum(many.scores)} vs ${target}`).toBeLessThan(0.03 * Math.abs(target));
          // groups whose path to the metric is linear are exact at any m; the others gain from steps
          if (Math.abs(sum(one.scores) - target) > 0.03 * Math.abs(target)) nonlinear++;
        }
        expect(checked).toBeGreaterThanOrEqual(2);
        expect(nonlinear, 'a group where one step is a worse estimate').toBeGreaterThanOrEqual(1);
      } finally {
        objective.dispose();
        engine.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('is registered with --steps, and recovers min_int\'s published circuit at top 4 (zero ablation)', async () => {
    expect(methodFlags('eap-ig-activations')).toContain('steps');
    expect(getMethod('eap-ig-activations')).toMatchObject({ kind: 'score', scoreSign: -1, defaultMetric: 'task' });
    const reference = (JSON.parse(readFileSync(`${SHARED}models/min_int/reference_circuit.json`, 'utf8')) as { circuit_edges: string[] })
      .circuit_edges.map((e) => e.replace(/\.(q|k|v)$/, '<$1>'));
    expect(reference.length).toBe(4);
    const out = await discover(minInt, getTask('min-int'), { method: 'eap-ig-activations', steps: 5, ablation: 'zero', splitEmbed: true, n: 32, seed: 1, topN: 4, modelName: 'min_int', backend: 'wasm' });
    out.evaluator.dispose();
    expect([...circuitEdgeKeys(out.file)].sort()).toEqual([...reference].sort());
    expect(out.file.results.faithfulness!).toBeGreaterThan(0.9);
    // m (1 + 2L) passes (m (1 + L) without MLPs)
    expect(out.file.results.forwards).toBe(5 * (1 + minInt.cfg.nLayers * (minInt.cfg.attnOnly ? 1 : 2)));
  });

  it('leaks no tensors', async () => {
    const s = subjects[0];
    const { positions, metric } = subjectMetric(s, new Rng(5));
    const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt }, { positions, attribution: true });
    await attributionGradient(eng, metric, [1], 'activations');
    await expectNoLeak(async () => { for (let i = 0; i < 2; i++) await attributionGradient(eng, metric, [0.5, 1], 'activations'); }, 'activations attribution');
    eng.dispose();
  });
});

describe('EAP-IG-inputs', () => {
  it("is eap-ig under MIB's name: same scores on min_int", async () => {
    expect(getMethod('eap-ig-inputs').aliasOf).toBe('eap-ig');
    expect(methodFlags('eap-ig-inputs')).toContain('steps');
    const run = async (method: string) => {
      const out = await discover(minInt, getTask('min-int'), { method, steps: 3, ablation: 'zero', splitEmbed: true, n: 16, seed: 2, topN: 4, modelName: 'min_int', backend: 'wasm' });
      out.evaluator.dispose();
      return out.raw.scores;
    };
    const [a, b] = [await run('eap-ig'), await run('eap-ig-inputs')];
    expect(a.size).toBeGreaterThan(0);
    for (const [e, v] of a) expect(b.get(e), e).toBe(v);
  });
});
