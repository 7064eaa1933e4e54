/**
 * EAP — Syed, Rager & Conmy, "Attribution Patching Outperforms Automated Circuit Discovery"
 * (2023, arXiv 2310.10348); the fast form of EAP-IG's repository (docs/methods.md "EAP").
 *
 * Scores: score(u -> r) = (out_u(ablated) - out_u(clean)) . dMetric/dx_r, averaged over rows and
 * metric positions (the metric is a batch mean), where x_r is receiver r's input in the clean
 * run. Computed for every edge at once as the gradient of the metric with respect to a
 * zero-valued probe mask that adds sum_u probe[r,u] (out_u(clean) - out_u(ablated)) to each
 * receiver input: one matmul per (receiver block, sender group), the shapes of the patch masks
 * (docs/patching.md "Dense masks and scores"). score = -dMetric/dprobe.
 * Metric: the task metric by default (KL's gradient vanishes at the clean run), or -KL.
 * Cost: the engine's setup (one clean and one ablated forward, caching the senders' outputs),
 * then one plain forward and one backward of the model (src/patching/attribution.ts); the
 * probe through the edge-masked forward (probeScores) gives the same scores, for any masks.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import type { Attribution } from '../patching/evaluator.js';
import type { PatchingEngine } from '../patching/engine.js';
import type { PatchLayout } from '../graph/layout.js';
import type { Interpolation } from '../patching/attribution.js';

/** Scores -grad per edge (the metric falls when an important edge is ablated: its score is negative). */
export function scoresFromGradient(lay: PatchLayout, grad: ArrayLike<number>): Map<string, number> {
  const S = lay.senders.length;
  for (let j = 0; j < grad.length; j++) if (!Number.isFinite(grad[j])) throw new Error('eap: attribution produced NaN or infinite scores (check the metric and the prompts)');
  const scores = new Map<string, number>();
  lay.receivers.forEach((r, ri) => lay.senders.forEach((s, si) => {
    if (lay.hasEdge(si, ri)) scores.set(`${s}->${r}`, -grad[ri * S + si]);
  }));
  return scores;
}

/**
 * The scores for the full circuit with the input edges (or, 'activations', each sender group's
 * edges in turn) scaled by each of `alphas` (1: EAP; k/m: EAP-IG's steps): the engine's attribution (one plain forward and backward per step and
 * chunk of rows, src/patching/attribution.ts), mean over rows and steps.
 */
export async function attributionScores(ctx: DiscoveryContext, alphas: number[], interpolate: Interpolation = 'inputs'): Promise<{ scores: Map<string, number>; attribution: Attribution }> {
  const attribution = await ctx.engine.attribute(ctx.objective, alphas, (done, total) => ctx.onProgress?.({ done, total, kept: 0, note: 'attribution' }), interpolate);
  return { scores: scoresFromGradient(ctx.engine.layout, attribution.grad), attribution };
}

/**
 * Attribution with the probe gradient through the edge-masked forward of one engine, over
 * circuits whose masks are `masks` ([C, R, S], fractional entries allowed): the mean over
 * circuits of -dMetric/dprobe, per edge. General but heavy (H per-head LayerNorms per layer on
 * the tape); the tests' reference for the plain attribution above.
 */
export async function probeScores(engine: PatchingEngine, objective: DiscoveryContext['objective'], masks: tf.Tensor3D): Promise<Map<string, number>> {
  const lay = engine.layout;
  const probe = tf.zeros([1, lay.receivers.length, lay.senders.length]) as tf.Tensor3D;
  try {
    const g = tf.tidy(() => tf.grad((p: tf.Tensor) => objective.differentiable(engine.runTensor(masks, { probe: p as tf.Tensor3D })))(probe));
    try { return scoresFromGradient(lay, await g.data()); } finally { g.dispose(); }
  } finally {
    probe.dispose();
  }
}

export async function eap(ctx: DiscoveryContext, _opts: MethodOptions): Promise<DiscoveryResult> {
  const { scores, attribution } = await attributionScores(ctx, [1]);
  return { method: 'eap', scores, circuit: new Set(), forwards: 1, backwards: 1, trace: [], attributionSeconds: attribution.seconds };
}
