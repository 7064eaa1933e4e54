/**
 * A 2-layer attention-only model with a hand-set induction mechanism, for testing detectors on a
 * model whose heads are known by construction (no training, built in microseconds).
 *
 * Residual stream (no LayerNorm, no biases): three blocks of one-hot directions,
 * `tok` (V dims: the current token), `pos` (P = nCtx dims: the position) and `prev` (V dims:
 * the previous token, written by head 0.0). W_E puts token t on tok_t, W_pos position p on pos_p.
 * - a0.h0, previous-token head: query pos_p . key pos_j is large when j = p - 1; its OV copies
 *   tok_j into prev_j.
 * - a0.h1, duplicate-token head: query tok . key tok is large for the same token, minus the
 *   same amount at the same position, so it attends to earlier copies of the current token
 *   (itself only when there is none). Its output is zero.
 * - a1.h0, induction head: query tok_t . key prev_t (what head 0.0 wrote) is large at the
 *   position after an earlier copy of t; its OV copies that position's token into tok with gain
 *   `gain`, and the unembedding reads tok, so the model predicts the next token of a repeat.
 * - a1.h1 attends uniformly (all weights zero).
 * Token 0 is a BOS, prepended by default: at position 0 head 0.0 can only attend to itself, so
 * without a BOS the first token would look like its own successor to the induction head.
 * `sharpness` is the attention logit (after the 1/sqrt(d_head) scale) of a match.
 */
import { finalizeConfig, type ModelConfig } from '../model/config.js';
import { expectedShapes, hostTensor, type StateDict } from '../model/weights.js';
import type { HeadRef } from './heads.js';

/** The name the hand-checking commands accept as `--model` for this model. */
export const PLANTED_INDUCTION = 'planted-induction';

export interface PlantedOptions {
  vocab?: number;
  nCtx?: number;
  sharpness?: number;
  gain?: number;
}

export interface PlantedModel {
  cfg: ModelConfig;
  stateDict: StateDict;
  heads: { previous: HeadRef; duplicate: HeadRef; induction: HeadRef; uniform: HeadRef };
}

export function plantedInductionModel(o: PlantedOptions = {}): PlantedModel {
  const V = o.vocab ?? 24, P = o.nCtx ?? 48;
  const sharp = o.sharpness ?? 16, gain = o.gain ?? 3;
  const D = 2 * V + P, Dh = V + P;
  const cfg = finalizeConfig({
    modelName: PLANTED_INDUCTION, nLayers: 2, nHeads: 2, dModel: D, dHead: Dh, nCtx: P, dVocab: V,
    attnOnly: true, normalizationType: null, positionalEmbeddingType: 'standard', tokenizerName: null, defaultPrependBos: true, bosTokenId: 0,
  }, PLANTED_INDUCTION);
  const tok = (t: number) => t, pos = (p: number) => V + p, prev = (t: number) => V + P + t;
  const sd: StateDict = new Map();
  for (const [name, shape] of expectedShapes(cfg)) sd.set(name, hostTensor(shape));
  const set = (name: string, idx: number[], v: number) => {
    const t = sd.get(name)!;
    let off = 0;
    for (let i = 0; i < idx.length; i++) off = off * t.shape[i] + idx[i];
    t.data[off] = v;
  };
  // a match scores alpha^2 / sqrt(Dh) = sharp
  const alpha = Math.sqrt(sharp * cfg.attnScale);
  for (let t = 0; t < V; t++) { set('embed.W_E', [t, tok(t)], 1); set('unembed.W_U', [tok(t), t], 1); }
  for (let p = 0; p < P; p++) set('pos_embed.W_pos', [p, pos(p)], 1);
  // a0.h0: previous token. Head space: e_p for positions.
  for (let p = 0; p < P; p++) {
    set('blocks.0.attn.W_Q', [0, pos(p), p], alpha);
    if (p + 1 < P) set('blocks.0.attn.W_K', [0, pos(p), p + 1], alpha);
  }
  for (let t = 0; t < V; t++) { set('blocks.0.attn.W_V', [0, tok(t), t], 1); set('blocks.0.attn.W_O', [0, t, prev(t)], 1); }
  // a0.h1: duplicate token. Head space: e_t for tokens, e_{V+p} for positions (self penalty).
  for (let t = 0; t < V; t++) { set('blocks.0.attn.W_Q', [1, tok(t), t], alpha); set('blocks.0.attn.W_K', [1, tok(t), t], alpha); }
  for (let p = 0; p < P; p++) { set('blocks.0.attn.W_Q', [1, pos(p), V + p], alpha); set('blocks.0.attn.W_K', [1, pos(p), V + p], -alpha); }
  // a1.h0: induction. Query tok_t, key prev_t; OV copies tok into tok with gain.
  for (let t = 0; t < V; t++) {
    set('blocks.1.attn.W_Q', [0, tok(t), t], alpha);
    set('blocks.1.attn.W_K', [0, prev(t), t], alpha);
    set('blocks.1.attn.W_V', [0, tok(t), t], 1);
    set('blocks.1.attn.W_O', [0, t, tok(t)], gain);
  }
  return {
    cfg, stateDict: sd,
    heads: { previous: { layer: 0, head: 0 }, duplicate: { layer: 0, head: 1 }, induction: { layer: 1, head: 0 }, uniform: { layer: 1, head: 1 } },
  };
}
