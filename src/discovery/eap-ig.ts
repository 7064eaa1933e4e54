/**
 * EAP-IG — Hanna, Pezzelle & Belinkov, "Have Faith in Faithfulness: Going Beyond Circuit Overlap
 * When Finding Model Mechanisms" (COLM 2024, arXiv 2403.17806); the "inputs" variant of their
 * repository (docs/methods.md "EAP-IG").
 *
 * Scores: score(u -> r) = (out_u(ablated) - out_u(clean)) . mean_k dMetric/dx_r at step k, where
 * step k runs the clean prompt with the input embedding interpolated to
 * ablated + (k/m)(clean - ablated), k = 0..m-1 (left Riemann sum, as the repository). Here the
 * interpolation is the full circuit with the input senders' edges scaled by k/m (the same as
 * interpolating the embedding), run as m plain forwards and backwards (attribution.ts); the
 * probe through the edge-masked forward with those m masks gives the same scores (tested).
 * Integrated-gradients completeness: the scores of the input's edges sum to
 * metric(ablated input) - metric(clean) as m grows (tested).
 * Cost: engine setup, then m forwards and backwards of the batch.
 */
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { attributionScores } from './eap.js';

export async function eapIg(ctx: DiscoveryContext, opts: MethodOptions): Promise<DiscoveryResult> {
  const steps = opts.steps ?? 5;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`eap-ig: --steps must be a positive integer, got ${opts.steps}`);
  const alphas = Array.from({ length: steps }, (_, k) => k / steps);
  const { scores, attribution } = await attributionScores(ctx, alphas); // mean over the m steps
  return { method: 'eap-ig', scores, circuit: new Set(), forwards: steps, backwards: steps, trace: [], attributionSeconds: attribution.seconds };
}
