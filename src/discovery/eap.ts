/**
 * EAP — Syed, Rager & Conmy, "Attribution Patching Outperforms Automated Circuit Discovery"
 * (2023, arXiv 2310.10348); the fast form of EAP-IG's repository (peers.md §5.1).
 *
 * Scores: score(u -> r) = (out_u(ablated) - out_u(clean)) . dMetric/dx_r, averaged over rows and
 * metric positions (the metric is a batch mean), where x_r is receiver r's input in the clean
 * run. Computed for every edge at once as the gradient of the metric with respect to a
 * zero-valued probe mask that adds sum_u probe[r,u] (out_u(clean) - out_u(ablated)) to each
 * receiver input: one matmul per (receiver block, sender group), the shapes of the patch masks
 * (STYLE.md #6). score = -dMetric/dprobe.
 * Metric: the task metric by default (KL's gradient vanishes at the clean run), or -KL.
 * Cost: the engine's setup (one clean and one ablated forward, caching the senders' outputs),
 * then one plain forward and one backward of the model (src/patching/attribution.ts); the
 * probe through the edge-masked forward (probeScores) gives the same scores, for any masks.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { PatchingEngine } from '../patching/engine.js';
import { attributionGradient } from '../patching/attribution.js';
import type { Objective } from '../patching/objective.js';

/** Row-weighted sum over chunks of their gradients d metric / d probe ([R*S], receiver-major). */
export function gradientSum(parts: Iterable<{ engine: PatchingEngine; objective: Objective; weight: number }>, grad: (engine: PatchingEngine, objective: Objective) => ArrayLike<number>, timing?: { seconds: number }, onChunk?: () => void): Float64Array {
  let data: Float64Array | null = null;
  for (const { engine, objective, weight } of parts) {
    const t = performance.now();
    const d = grad(engine, objective);
    if (timing) timing.seconds += (performance.now() - t) / 1000;
    data ??= new Float64Array(d.length);
    for (let j = 0; j < d.length; j++) data[j] += weight * d[j];
    onChunk?.();
  }
  if (!data) throw new Error('eap: no prompts to attribute');
  return data;
}

/**
 * Scores -grad per edge from the row-weighted sum over the batch's chunks (the metric is a mean
 * over rows, so the batch's gradient is that sum). `remote`, when given, is started first and
 * its result (other threads' chunks, already weighted) added after the local chunks.
 */
function collect(ctx: DiscoveryContext, grad: (engine: PatchingEngine, objective: Objective) => ArrayLike<number>, timing?: { seconds: number }, remote?: () => () => { data: Float64Array | null; seconds: number }): Map<string, number> {
  const lay = ctx.engine.layout;
  const S = lay.senders.length;
  const parts = ctx.chunks ?? [{ engine: ctx.engine as PatchingEngine, objective: ctx.objective, weight: 1 }];
  if (!ctx.chunks && !(ctx.engine instanceof PatchingEngine)) throw new Error('eap: a chunked engine needs per-chunk objectives (ctx.chunks)');
  const pending = remote?.();
  let i = 0;
  const local = { seconds: 0 };
  const data = gradientSum(parts, grad, local, () => ctx.onProgress?.({ done: ++i, total: ctx.chunkCount ?? 1, kept: 0, note: 'attribution' }));
  let remoteSeconds = 0;
  if (pending) {
    const r = pending();
    remoteSeconds = r.seconds;
    if (r.data) for (let j = 0; j < data.length; j++) data[j] += r.data[j];
  }
  // threads overlap: the slowest thread's forward+backward time
  if (timing) timing.seconds += Math.max(local.seconds, remoteSeconds);
  for (const v of data) if (!Number.isFinite(v)) throw new Error('eap: attribution produced NaN or infinite scores (check the metric and the prompts)');
  const scores = new Map<string, number>();
  lay.receivers.forEach((r, ri) => lay.senders.forEach((s, si) => {
    if (lay.hasEdge(si, ri)) scores.set(`${s}->${r}`, -data[ri * S + si]);
  }));
  return scores;
}

/**
 * Attribution with the probe gradient through the edge-masked forward, over circuits whose
 * masks are `masks` ([C, R, S], fractional entries allowed): the mean over circuits of
 * -dMetric/dprobe, per edge. General but heavy (H per-head LayerNorms per layer on the tape).
 */
export function probeScores(ctx: DiscoveryContext, masks: tf.Tensor3D): Map<string, number> {
  const lay = ctx.engine.layout;
  if (ctx.remoteAttribution) throw new Error('eap: probe scores run on one thread (no worker pool)');
  return collect(ctx, (engine, objective) => {
    const probe = tf.zeros([1, lay.receivers.length, lay.senders.length]) as tf.Tensor3D;
    try {
      const g = tf.tidy(() => tf.grad((p: tf.Tensor) => objective.differentiable(engine.runTensor(masks, { probe: p as tf.Tensor3D })))(probe));
      const d = g.dataSync();
      g.dispose();
      return d;
    } finally {
      probe.dispose();
    }
  });
}

/**
 * The same scores for the full circuit with the input edges scaled by each of `alphas` (1: EAP;
 * k/m: EAP-IG's steps), from one plain forward and backward of the model per step
 * (src/patching/attribution.ts).
 */
export function attributionScores(ctx: DiscoveryContext, alphas: number[], timing?: { seconds: number }): Map<string, number> {
  const remote = ctx.remoteAttribution;
  return collect(ctx, attributionStep(alphas), timing, remote && (() => remote(alphas)));
}

/** One chunk's d metric / d probe from the plain forward and backward, over the steps `alphas`. */
export function attributionStep(alphas: number[]): (engine: PatchingEngine, objective: Objective) => Float64Array {
  return (engine, objective) => attributionGradient(engine, (l) => objective.differentiable(l), alphas);
}

export function eap(ctx: DiscoveryContext, _opts: MethodOptions): DiscoveryResult {
  const timing = { seconds: 0 };
  const scores = attributionScores(ctx, [1], timing);
  return { method: 'eap', scores, circuit: new Set(), forwards: 1, backwards: 1, trace: [], attributionSeconds: timing.seconds };
}
