/**
 * The edge-masked forward against the slow hooked oracle (test/oracle.ts) and against the
 * plain model: all edges = clean run, no edges = ablated run, random circuits = oracle
 * (TOL.component = 1e-5 on logits, relative to their scale; 1e-6 on KL), batched = one-by-one, layer-resumed = full.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import type { Ablation } from '../../src/patching/ablation.js';
import { layoutEdges, maskFromEdges, nodeAblationMask } from '../../src/graph/layout.js';
import { Rng } from '../../src/util/rng.js';
import { patchingSubjects, disposeSubjects, type Subject } from '../subjects.js';
import { TOL, expectClose, expectNoLeak } from '../helpers.js';
import { oracleLogits } from '../oracle.js';

function kl(p: tf.Tensor, q: tf.Tensor): number {
  return tf.tidy(() => {
    const lp = tf.logSoftmax(p), lq = tf.logSoftmax(q);
    return tf.max(tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, lq)), -1)).dataSync()[0];
  });
}

function randomEdges(all: string[], rng: Rng, keep: number): Set<string> {
  return new Set(all.filter(() => rng.next() < keep));
}

let subjects: Subject[] = [];

beforeAll(async () => {
  await initBackend('wasm');
  subjects = await patchingSubjects(3, { allToys: true });
});
afterAll(() => disposeSubjects(subjects));

const ablations = (s: Subject): [string, Ablation][] => [
  ['resample', { kind: 'resample', corrupt: s.corrupt }],
  ['zero', { kind: 'zero' }],
  ['mean', { kind: 'mean', reference: [...s.corrupt, ...s.clean] }],
];

describe('edge-masked forward', () => {
  it('all edges = clean run; no edges = ablated run (KL < 1e-6)', () => {
    for (const s of subjects) {
      const clean = s.model.forward(s.clean);
      for (const [name, ab] of ablations(s)) {
        const eng = new PatchingEngine(s.model, s.clean, ab, { splitEmbed: s.splitEmbed });
        const [full, empty] = tf.unstack(eng.run([eng.fullMask(), new Float32Array(eng.fullMask().length)]));
        expect(kl(clean, full), `${s.name}/${name} full`).toBeLessThan(1e-6);
        // relative to the logits' scale (sort's reach ~1000)
        const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(clean)).dataSync()[0]));
        expectClose(full, clean, TOL.model * scale, `${s.name}/${name} full logits`);
        // The ablated run, computed independently: resample = the model on the corrupted batch;
        // zero/mean = every sender's output replaced by zeros / its reference mean via hooks.
        let ablated: tf.Tensor;
        if (ab.kind === 'resample') ablated = s.model.forward(s.corrupt);
        else {
          const cfg = s.model.cfg;
          const ref = ab.kind === 'mean' ? s.model.runWithCache(ab.reference, { names: (n) => /hook_embed|hook_pos_embed|hook_result|hook_mlp_out/.test(n) }) : null;
          // zero ablation keeps biases: an MLP's output falls to its b_out
          const bias = (n: string) => { const m = /blocks\.(\d+)\.hook_mlp_out/.exec(n); return m ? s.model.params.layers[Number(m[1])].bout! : tf.scalar(0); };
          const replace = (n: string) => (x: tf.Tensor) => (ref ? tf.add(tf.zerosLike(x), tf.mean(ref.cache.get(n), 0, true)) : tf.add(tf.zerosLike(x), bias(n)));
          const names = ['hook_embed', ...(cfg.positionalEmbeddingType === 'standard' || s.splitEmbed ? ['hook_pos_embed'] : [])];
          for (let l = 0; l < cfg.nLayers; l++) { names.push(`blocks.${l}.attn.hook_result`); if (!cfg.attnOnly) names.push(`blocks.${l}.hook_mlp_out`); }
          ablated = s.model.runWithHooks(s.clean, names.map((n) => [n, replace(n)]));
          if (ref) { ref.cache.dispose(); ref.logits.dispose(); }
        }
        expect(kl(ablated, empty), `${s.name}/${name} empty`).toBeLessThan(1e-6);
        tf.dispose([full, empty, ablated]);
        eng.dispose();
      }
      clean.dispose();
    }
  });

  it('random circuits match the hooked oracle (1e-5), every ablation', () => {
    const rng = new Rng(11);
    for (const s of subjects) {
      for (const [name, ab] of ablations(s)) {
        const eng = new PatchingEngine(s.model, s.clean, ab, { splitEmbed: s.splitEmbed });
        const all = layoutEdges(eng.layout);
        for (const keep of [0.2, 0.5, 0.9]) {
          const edges = randomEdges(all, rng, keep);
          const fast = eng.run([maskFromEdges(eng.layout, edges)]);
          const slow = oracleLogits(s.model, s.clean, ab, edges, s.splitEmbed);
          // 1e-5 relative to the logits' scale (permute_lists' logits reach ~30)
          const scale = Math.max(1, tf.tidy(() => tf.max(tf.abs(slow)).dataSync()[0]));
          expectClose(fast, slow, TOL.component * scale, `${s.name}/${name}/${keep}`);
          tf.dispose([fast, slow]);
        }
        eng.dispose();
      }
    }
  });

  it('batched circuits equal one-by-one; layer-resumed equals full recompute', () => {
    const rng = new Rng(5);
    for (const s of subjects) {
      const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt }, { splitEmbed: s.splitEmbed });
      const all = layoutEdges(eng.layout);
      const masks = [0.3, 0.6, 0.95].map((k) => maskFromEdges(eng.layout, randomEdges(all, rng, k)));
      const batched = eng.run(masks);
      masks.forEach((m, i) => {
        const one = eng.run([m]);
        expectClose(tf.slice(batched, [i], [1]), one, TOL.component, `${s.name} batched ${i}`);
        one.dispose();
      });
      batched.dispose();
      // Prefix at every stage: circuits that differ from the base only in later receivers.
      const base = masks[1];
      const nStages = 2 * s.model.cfg.nLayers + 1;
      for (let stage = 0; stage <= nStages - 1; stage++) {
        const p = eng.prefix(base, stage);
        const from = eng.firstRowOfStage(stage) * eng.layout.senders.length;
        const variant = base.slice();
        for (let i = from; i < variant.length; i++) if (rng.next() < 0.3) variant[i] = 1 - variant[i];
        const resumed = eng.run([variant, base], { from: p });
        const full = eng.run([variant, base]);
        expectClose(resumed, full, TOL.component, `${s.name} resumed at stage ${stage}`);
        // A circuit that differs before the stage is refused.
        if (from > 0) {
          const bad = base.slice(); const i = eng.fullMask().findIndex((v, j) => v === 1 && j < from);
          bad[i] = 1 - bad[i];
          expect(() => eng.run([bad], { from: p })).toThrow(/differs from the cached prefix/);
        }
        tf.dispose([resumed, full]); p.dispose();
      }
      eng.dispose();
    }
  });

  it('node-level patching equals replacing the node output in a plain forward', () => {
    const s = subjects[0]; // GPT-2 fixture: heads and MLPs
    const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt });
    const { logits: cl, cache } = s.model.runWithCache(s.corrupt, { names: ['blocks.0.attn.hook_result', 'blocks.1.hook_mlp_out'] });
    cl.dispose();
    const patched = eng.run([nodeAblationMask(eng.layout, ['a0.h2', 'm1'])]);
    const H = s.model.cfg.nHeads;
    const onlyHead2 = tf.tensor4d(Array.from({ length: 3 * 7 * H * 64 }, (_, i) => (Math.floor(i / 64) % H === 2 ? 1 : 0)), [3, 7, H, 64]);
    const ref = s.model.runWithHooks(s.clean, [
      ['blocks.0.attn.hook_result', (x) => tf.add(tf.mul(x, tf.sub(1, onlyHead2)), tf.mul(cache.get('blocks.0.attn.hook_result'), onlyHead2))],
      ['blocks.1.hook_mlp_out', () => cache.get('blocks.1.hook_mlp_out').clone()],
    ]);
    expectClose(patched, ref, TOL.model, 'node patching');
    expect(() => nodeAblationMask(eng.layout, ['a9.h0'])).toThrow(/'a9.h0' is not a sender node/);
    tf.dispose([patched, ref, onlyHead2]); cache.dispose(); eng.dispose();
  });

  it('positions option returns the logits at the requested positions', () => {
    const s = subjects[1];
    const positions = s.clean.map(() => [8, 9, 10]);
    const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt }, { splitEmbed: true, positions });
    const out = eng.run([eng.fullMask()]);
    expect(out.shape).toEqual([1, 4, 3, 50]);
    const clean = s.model.forward(s.clean);
    expectClose(out, tf.slice(clean, [0, 8, 0], [4, 3, 50]), TOL.model, 'positions');
    tf.dispose([out, clean]); eng.dispose();
  });

  it('bad inputs: unequal batch shapes, unknown edges', () => {
    const s = subjects[0];
    expect(() => new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt.map((r) => r.slice(1)) })).toThrow(/corrupted batch is \[3, 6\] but the clean batch is \[3, 7\]/);
    const eng = new PatchingEngine(s.model, s.clean, { kind: 'zero' });
    expect(() => maskFromEdges(eng.layout, ['a1.h0->a0.h0<q>'])).toThrow(/'a1.h0->a0.h0<q>' is not an edge/);
    eng.dispose();
  });

  it('no tensor leaks over 1,000 evaluations', async () => {
    const s = subjects[1];
    const eng = new PatchingEngine(s.model, s.clean, { kind: 'resample', corrupt: s.corrupt }, { splitEmbed: true, positions: s.clean.map(() => [8, 9, 10]) });
    const all = layoutEdges(eng.layout);
    const rng = new Rng(1);
    const masks = Array.from({ length: 10 }, () => maskFromEdges(eng.layout, randomEdges(all, rng, 0.5)));
    eng.run([masks[0]]).dispose(); // warm-up (causal-mask cache)
    await expectNoLeak(() => {
      for (let i = 0; i < 1000; i++) {
        if (i % 100 === 0) { const p = eng.prefix(masks[i % 10], 2); eng.run([masks[i % 10]], { from: p }).dispose(); p.dispose(); }
        else eng.run([masks[i % 10]]).dispose();
      }
    }, '1000 evaluations');
    eng.dispose();
  });
});
