/**
 * Discovery methods on the permute_lists toy model (split embedding, its reference graph):
 * - EAP equals the per-edge formula (out_u(corrupt) - out_u(clean)) . dMetric/dx_r computed
 *   independently from the model's own hooks and gradients (TOL 1e-5 relative to the largest score).
 * - EAP-IG's completeness: the input edges' scores sum to metric(ablated input) - metric(clean)
 *   (within 3% at 64 steps; the left Riemann sum's error is O(1/m)).
 * - ACDC: speculative batching and layer-resumed evaluation give exactly the sequential edge
 *   set (metrics within 1e-6); an interrupted run resumed from its checkpoint ends identical.
 * - No tensors leak across discovery runs.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { PatchingEngine } from '../../src/patching/engine.js';
import { makeObjective } from '../../src/patching/objective.js';
import { acdc } from '../../src/discovery/acdc.js';
import { eap } from '../../src/discovery/eap.js';
import { eapIg } from '../../src/discovery/eap-ig.js';
import { pruneDangling, selectGreedy, selectTopN } from '../../src/graph/selection.js';
import type { DiscoveryContext } from '../../src/discovery/types.js';
import { fileCheckpoint } from '../../src/cli/context.js';
import { permuteLists } from '../../src/tasks/toy/generators.js';
import { answerLogProb, pick } from '../../src/tasks/metrics.js';
import type { TaskBatch } from '../../src/tasks/types.js';
import { SHARED, expectNoLeak } from '../helpers.js';

let model: HookedTransformer;
let batch: TaskBatch;
const task = { metricName: 'logprob', metric: (l: tf.Tensor3D, b: TaskBatch) => answerLogProb(l, b.answers) };

// the answer logit: its gradient does not vanish on a model this confident (log-prob's does)
const logitTask = { metricName: 'logit', metric: (l: tf.Tensor3D, b: TaskBatch) => tf.mean(pick(l, b.answers)) as tf.Scalar };

function context(kind: 'kl' | 'task', ablation: 'resample' | 'zero' = 'resample', t: typeof task = task, attribution = false): DiscoveryContext & { dispose(): void } {
  const engine = new PatchingEngine(model, batch.clean, ablation === 'zero' ? { kind: 'zero' } : { kind: 'resample', corrupt: batch.corrupt }, { splitEmbed: true, positions: batch.positions, attribution });
  const cleanLogits = tf.tidy(() => tf.squeeze(engine.run([engine.fullMask()]), [0])) as tf.Tensor3D;
  const objective = makeObjective(kind, t, batch, cleanLogits);
  cleanLogits.dispose();
  return { engine, objective, dispose: () => { objective.dispose(); engine.dispose(); } };
}

beforeAll(async () => {
  await initBackend('wasm');
  model = (await loadModel(`${SHARED}models/permute_lists`, { quiet: true })).model;
  const a = permuteLists(16, 7), b = permuteLists(16, 8);
  batch = { clean: a.tokens, corrupt: b.tokens, positions: a.tokens.map(() => a.positions), answers: a.labels, wrong: a.labels.map((r) => r.map(() => [])) };
});
afterAll(() => model?.dispose());

describe('EAP', () => {
  it('equals the per-edge formula from hooks and model gradients', async () => {
    const ctx = context('task', 'resample', logitTask);
    const res = await eap(ctx, {});
    ctx.dispose();
    // deltas kept from setup (attribution: true) give the same scores as recomputed ones
    const ctxA = context('task', 'resample', logitTask, true);
    const resA = await eap(ctxA, {});
    ctxA.dispose();
    const big = Math.max(1, ...[...res.scores.values()].map(Math.abs));
    for (const [e, v] of res.scores) expect(Math.abs(resA.scores.get(e)! - v)).toBeLessThan(1e-5 * big);
    // Independent: gradient of the metric at every receiver input via the model's hooks.
    const metric = (logits: tf.Tensor3D) => tf.tidy(() => {
      const at = tf.stack(batch.positions[0].map((p) => tf.squeeze(tf.slice(logits, [0, p, 0], [-1, 1, -1]), [1])), 1) as tf.Tensor3D;
      return tf.mean(pick(at, batch.answers)) as tf.Scalar;
    });
    const names = ['blocks.0.hook_q_input', 'blocks.0.hook_k_input', 'blocks.0.hook_v_input', 'blocks.1.hook_q_input', 'blocks.1.hook_k_input', 'blocks.1.hook_v_input', 'blocks.1.hook_resid_post'];
    const { grads } = await model.gradients(batch.clean, names, metric);
    const outs = (tokens: number[][]) => {
      const { logits, cache } = model.runWithCache(tokens, { names: ['hook_embed', 'hook_pos_embed', 'blocks.0.attn.hook_result', 'blocks.1.attn.hook_result'] });
      logits.dispose();
      const m = new Map<string, Float32Array>([
        ['tok', cache.get('hook_embed').dataSync() as Float32Array], ['pos', cache.get('hook_pos_embed').dataSync() as Float32Array],
        ['a0.h0', cache.get('blocks.0.attn.hook_result').dataSync() as Float32Array], ['a1.h0', cache.get('blocks.1.attn.hook_result').dataSync() as Float32Array],
      ]);
      cache.dispose();
      return m;
    };
    const clean = outs(batch.clean), corrupt = outs(batch.corrupt);
    const gOf = (receiver: string) => {
      if (receiver === 'logits') return grads.get('blocks.1.hook_resid_post')!.dataSync();
      const m = /a(\d)\.h0<(q|k|v)>/.exec(receiver)!;
      return grads.get(`blocks.${m[1]}.hook_${m[2]}_input`)!.dataSync(); // [B,T,1,D]: same layout as [B,T,D]
    };
    let worst = 0, maxAbs = 0;
    for (const [edge, score] of res.scores) {
      const [s, r] = edge.split('->');
      const g = gOf(r), c = clean.get(s)!, x = corrupt.get(s)!;
      let dot = 0;
      for (let i = 0; i < g.length; i++) dot += (x[i] - c[i]) * g[i];
      worst = Math.max(worst, Math.abs(dot - score));
      maxAbs = Math.max(maxAbs, Math.abs(dot));
    }
    tf.dispose([...grads.values()]);
    expect(res.scores.size).toBe(19);
    expect(maxAbs).toBeGreaterThan(0.01); // the comparison is not vacuous
    expect(worst).toBeLessThan(1e-5 * Math.max(1, maxAbs));
  });
});

describe('EAP-IG', () => {
  it('input-edge scores sum to metric(ablated input) - metric(clean) (completeness, 3% at 64 steps)', async () => {
    const ctx = context('task');
    const res = await eapIg(ctx, { steps: 64 });
    const lay = ctx.engine.layout;
    const noInput = ctx.engine.fullMask();
    const S = lay.senders.length;
    for (let r = 0; r < lay.receivers.length; r++) for (let s = 0; s < lay.nIn; s++) noInput[r * S + s] = 0;
    const logits = await ctx.engine.run([ctx.engine.fullMask(), noInput]);
    const [mClean, mAblated] = await ctx.objective.taskMetric(logits);
    logits.dispose();
    ctx.dispose();
    const sum = [...res.scores].filter(([e]) => e.startsWith('tok->') || e.startsWith('pos->')).reduce((a, [, v]) => a + v, 0);
    const target = mAblated - mClean;
    expect(Math.abs(target)).toBeGreaterThan(1);
    expect(Math.abs(sum - target)).toBeLessThan(0.03 * Math.abs(target));
    // and with 1 step (the gradient at the fully ablated input) it is a different, worse estimate
    const ctx1 = context('task');
    const one = await eapIg(ctx1, { steps: 1 });
    ctx1.dispose();
    const sum1 = [...one.scores].filter(([e]) => e.startsWith('tok->') || e.startsWith('pos->')).reduce((a, [, v]) => a + v, 0);
    expect(Math.abs(sum1 - target)).toBeGreaterThan(Math.abs(sum - target));
  });
});

describe('ACDC', () => {
  it('speculative batching and layer-resumed evaluation give the sequential result', async () => {
    const runs = await Promise.all([
      { speculate: 1, resume: false, skipDead: false }, // the naive sequential baseline
      { speculate: 1, resume: true, skipDead: true },
      { speculate: 4, resume: true, skipDead: true },
      { speculate: 16, resume: false, skipDead: false },
    ].map(async ({ skipDead, ...o }) => {
      const ctx = context('kl');
      ctx.engine.skipDead = skipDead;
      try { return await acdc(ctx, { threshold: 0.02, ...o }); } finally { ctx.dispose(); }
    }));
    const base = runs[0];
    expect(base.circuit.size).toBeGreaterThan(0);
    expect(base.circuit.size).toBeLessThan(19);
    for (const r of runs.slice(1)) {
      expect([...r.circuit].sort()).toEqual([...base.circuit].sort());
      expect(r.trace.map((t) => t.edge)).toEqual(base.trace.map((t) => t.edge));
      r.trace.forEach((t, i) => expect(Math.abs(t.score - base.trace[i].score)).toBeLessThan(1e-6));
    }
    // the reference circuit's central edges survive
    for (const e of ['a0.h0->a1.h0<v>', 'a1.h0->logits']) expect(base.circuit.has(e)).toBe(true);
  });

  it('resumes from a checkpoint to the same circuit as an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acdc-'));
    const ck = fileCheckpoint(join(dir, 'c.checkpoint.json'));
    const full = await (async () => { const ctx = context('kl'); const r = await acdc(ctx, { threshold: 0.02 }); ctx.dispose(); return r; })();
    const ctx = context('kl');
    let calls = 0;
    ctx.onProgress = () => { if (++calls === 5) throw new Error('killed'); };
    await expect(acdc(ctx, { threshold: 0.02, checkpoint: ck, checkpointKey: 'k' })).rejects.toThrow('killed');
    ctx.dispose();
    expect(existsSync(ck.name)).toBe(true);
    const ctx2 = context('kl');
    const resumed = await acdc(ctx2, { threshold: 0.02, checkpoint: ck, resumeFrom: ck, checkpointKey: 'k' });
    ctx2.dispose();
    expect([...resumed.circuit].sort()).toEqual([...full.circuit].sort());
    expect(resumed.trace.length).toBe(full.trace.length);
    const ctx3 = context('kl');
    await expect(acdc(ctx3, { threshold: 0.02, resumeFrom: ck, checkpointKey: 'other' })).rejects.toThrow(/belongs to another run/);
    ctx3.dispose();
  });

  it('leaks no tensors across discovery iterations', async () => {
    const ctx = context('kl');
    await acdc(ctx, { threshold: 0.05 }); await eap(ctx, {}); // warm caches
    await expectNoLeak(async () => { for (let i = 0; i < 3; i++) { await acdc(ctx, { threshold: 0.05 }); await eap(ctx, {}); await eapIg(ctx, { steps: 3 }); } }, 'discovery');
    ctx.dispose();
  });
});

describe('selection', () => {
  it('top-n, greedy and dangling-node pruning on hand-made scores', () => {
    const scores = new Map([
      ['tok->a0.h0<q>', 0.1], ['a0.h0->a1.h0<v>', -2], ['a1.h0->logits', 3], ['tok->a1.h0<k>', 0.5], ['pos->a0.h0<k>', 0.01], ['a0.h0->logits', 0.2],
    ]);
    expect([...selectTopN(scores, 2)].sort()).toEqual(['a0.h0->a1.h0<v>', 'a1.h0->logits']);
    // greedy from the logits: a1.h0->logits, then a0.h0->a1.h0<v> (now a1.h0 is in), then tok->a1.h0<k>
    expect([...selectGreedy(scores, 3)]).toEqual(['a1.h0->logits', 'a0.h0->a1.h0<v>', 'tok->a1.h0<k>']);
    // a0.h0 has no input edge -> a0.h0->a1.h0<v> and a0.h0->logits dangle
    expect([...pruneDangling(['a0.h0->a1.h0<v>', 'a1.h0->logits', 'tok->a1.h0<k>', 'a0.h0->logits'])].sort()).toEqual(['a1.h0->logits', 'tok->a1.h0<k>']);
    // tok->a0.h0<q> dangles when a0.h0 reaches nothing
    expect([...pruneDangling(['tok->a0.h0<q>', 'tok->a1.h0<q>', 'a1.h0->logits'])].sort()).toEqual(['a1.h0->logits', 'tok->a1.h0<q>']);
  });
});
