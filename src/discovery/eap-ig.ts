/**
 * EAP-IG — Hanna, Pezzelle & Belinkov, "Have Faith in Faithfulness: Going Beyond Circuit Overlap
 * When Finding Model Mechanisms" (COLM 2024, arXiv 2403.17806); the "inputs" variant of their
 * repository (peers.md §5.2).
 *
 * Scores: score(u -> r) = (out_u(ablated) - out_u(clean)) . mean_k dMetric/dx_r at step k, where
 * step k runs the clean prompt with the input embedding interpolated to
 * ablated + (k/m)(clean - ablated), k = 0..m-1 (left Riemann sum, as the repository). Here the
 * interpolation is a mask whose input column is k/m (every other edge present), and the m steps
 * run as m circuits of one batched forward; the probe gradient (see eap.ts) sums over them.
 * Integrated-gradients completeness: the scores of the input's edges sum to
 * metric(ablated input) - metric(clean) as m grows (tested).
 * Cost: engine setup, then one forward and one backward over m x the batch.
 */
import * as tf from '@tensorflow/tfjs';
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { probeScores } from './eap.js';

export function eapIg(ctx: DiscoveryContext, opts: MethodOptions): DiscoveryResult {
  const steps = opts.steps ?? 5;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`eap-ig: --steps must be a positive integer, got ${opts.steps}`);
  const lay = ctx.engine.layout;
  const R = lay.receivers.length, S = lay.senders.length;
  const full = ctx.engine.fullMask();
  const all = new Float32Array(steps * R * S);
  for (let k = 0; k < steps; k++) {
    const m = full.slice();
    for (let r = 0; r < R; r++) for (let s = 0; s < lay.nIn; s++) if (m[r * S + s] === 1) m[r * S + s] = k / steps;
    all.set(m, k * R * S);
  }
  const masks = tf.tensor3d(all, [steps, R, S]);
  try {
    const scores = probeScores(ctx, masks); // mean over the m steps
    return { method: 'eap-ig', scores, circuit: new Set(), forwards: steps, backwards: steps, trace: [] };
  } finally {
    masks.dispose();
  }
}
