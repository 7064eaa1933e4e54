/**
 * EAP-IG — Hanna, Pezzelle & Belinkov, "Have Faith in Faithfulness: Going Beyond Circuit Overlap
 * When Finding Model Mechanisms" (COLM 2024, arXiv 2403.17806), in the two variants that MIB
 * (Mueller et al. 2025, arXiv 2504.13151) names and their repository implements
 * (`src/eap/attribute.py`; docs/methods.md "EAP-IG").
 *
 * EAP-IG-inputs (`eap-ig-inputs`, also `eap-ig`; the repository's get_scores_eap_ig):
 * score(u -> r) = (out_u(ablated) - out_u(clean)) . mean_k dMetric/dx_r at step k, where step k
 * runs the clean prompt with the input embedding interpolated to ablated + (k/m)(clean -
 * ablated), k = 0..m-1 (a left Riemann sum, as the repository). Here the interpolation is the
 * full circuit with the input senders' edges scaled by k/m (the same as interpolating the
 * embedding), run as m plain forwards and backwards (attribution.ts); the probe through the
 * edge-masked forward with those m masks gives the same scores (tested). Integrated-gradients
 * completeness: the scores of the input's edges sum to metric(ablated input) - metric(clean) as
 * m grows (tested). Departure: the repository interpolates `hook_embed` (token embedding only)
 * and only patches with corrupted prompts; the input here is the embedding with its positions,
 * which is the same under resample ablation (same positions in both runs) and lets zero / mean
 * ablation interpolate the whole input.
 *
 * EAP-IG-activations (`eap-ig-activations`; the repository's get_scores_ig_activations): for
 * each sender group g (the input; attention layer l, all heads; MLP l) and step k = 1..m, g's
 * output is set to ablated + (k/m)(clean - ablated) and the rest of the model runs on (the full
 * circuit with g's edges scaled by k/m); score(u -> r) = (out_u(ablated) - out_u(clean)) .
 * mean_k dMetric/dx_r over the steps of u's own group (a right Riemann sum, as the repository).
 * With m = 1 it is EAP (tested); per group, completeness holds as for the inputs. Departure:
 * the repository adds every step's gradient into every edge and divides by m(1 + 2L), so an
 * edge's score also mixes in the steps of other groups, in which the interpolated group's
 * output is a constant (its own inputs get no gradient there: at m = 1 the edges into the last
 * MLP get 2L/(2L+1) of EAP); here each edge integrates along its own sender's path, the
 * formula the variant's name states (Marks et al. 2024's IG on activations).
 *
 * Cost: engine setup, then m forwards and backwards (inputs), or m(1 + 2L) forwards and
 * backwards (activations; m(1 + L) attention-only), each backward stopping at its group's layer.
 */
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { attributionScores } from './eap.js';

function stepsOf(opts: MethodOptions, method: string): number {
  const steps = opts.steps ?? 5;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${method}: --steps must be a positive integer, got ${opts.steps}`);
  return steps;
}

/** EAP-IG-inputs: the input embedding interpolated, alpha = k/m for k = 0..m-1. */
export async function eapIg(ctx: DiscoveryContext, opts: MethodOptions): Promise<DiscoveryResult> {
  const steps = stepsOf(opts, 'eap-ig');
  const alphas = Array.from({ length: steps }, (_, k) => k / steps);
  const { scores, attribution } = await attributionScores(ctx, alphas); // mean over the m steps
  return { method: 'eap-ig', scores, circuit: new Set(), forwards: steps, backwards: steps, trace: [], attributionSeconds: attribution.seconds };
}

/** EAP-IG-activations: each sender group's output interpolated in turn, alpha = k/m for k = 1..m. */
export async function eapIgActivations(ctx: DiscoveryContext, opts: MethodOptions): Promise<DiscoveryResult> {
  const steps = stepsOf(opts, 'eap-ig-activations');
  const alphas = Array.from({ length: steps }, (_, k) => (k + 1) / steps);
  const { scores, attribution } = await attributionScores(ctx, alphas, 'activations');
  const cfg = ctx.engine.layout.cfg;
  const passes = steps * (1 + cfg.nLayers * (cfg.attnOnly ? 1 : 2));
  return { method: 'eap-ig-activations', scores, circuit: new Set(), forwards: passes, backwards: passes, trace: [], attributionSeconds: attribution.seconds };
}
