/**
 * One transformer block, written once (TransformerLens' transformer_block.py: ln1, attention,
 * ln2, MLP; hook points named by module path inside the block, src/model/hook-names.ts).
 *
 * Every forward composes these functions: the hooked transformer (`transformerBlock` per layer,
 * with hooks), the training forward (`transformerBlock`, under a gradient tape), the
 * edge-masked forward of src/patching/engine.ts (`normalize`, `qkInput`, `attention` and `mlp`
 * on per-receiver inputs) and attribution (`attentionInputGrads`, the backward of the input
 * side). So a change of architecture is a change here:
 * - the normalisation (LayerNorm, LNPre, none; RMSNorm would be one more case) is chosen in
 *   `normalize` and differentiated in `normalizeVjp`;
 * - where positions enter (standard: the residual stream at the embedding; shortformer: the q
 *   and k inputs) is `embedResidual` and `qkInput`; rotary positions would act on q and k in
 *   `attention`;
 * - the block's wiring (sequential attention then MLP; parallel attention + MLP would read
 *   ln2 of resid_pre) is `transformerBlock`.
 * Shapes: N rows (batch, or circuits x batch), T positions, H heads (nh of them selected),
 * D dModel, Dh dHead.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from './config.js';
import { activation, attendValues, attentionPattern, layerNorm, layerNormBackward, linear, perHeadIn, perHeadOut, type HeadWeights } from './components.js';
import { blockHook, type BlockHookName } from './hook-names.js';

/**
 * One block's parameters (TransformerLens shapes), and optionally the same weights in the forms
 * the fast paths use; a form left out is derived from the TransformerLens tensors when needed
 * (the training forward passes none, so gradients reach its variables).
 */
export interface BlockParams {
  ln1w: tf.Tensor1D | null; ln1b: tf.Tensor1D | null;
  ln2w: tf.Tensor1D | null; ln2b: tf.Tensor1D | null;
  WQ: tf.Tensor3D; WK: tf.Tensor3D; WV: tf.Tensor3D; // [H, D, Dh]
  bQ: tf.Tensor2D; bK: tf.Tensor2D; bV: tf.Tensor2D; // [H, Dh]
  WO: tf.Tensor3D; bO: tf.Tensor1D; // [H, Dh, D], [D]
  Win: tf.Tensor2D | null; bin: tf.Tensor1D | null; Wout: tf.Tensor2D | null; bout: tf.Tensor1D | null;
  /** fused [D, 3*H*Dh] q|k|v projection and its bias (`fuseQKV`), for the shared-input path */
  WQKV?: tf.Tensor2D; bQKV?: tf.Tensor1D;
  /** W_O as [H*Dh, D] */
  WOflat?: tf.Tensor2D;
  /**
   * The same weights per head, for plain 2-D matmuls (components.HeadWeights): [D,Dh] x3,
   * [Dh,D]. Keep them alive across calls so XNNPACK's packed-weight cache hits.
   */
  WQh?: tf.Tensor2D[]; WKh?: tf.Tensor2D[]; WVh?: tf.Tensor2D[]; WOh?: tf.Tensor2D[];
}

/** The fused q|k|v projection [D, 3*H*Dh] and bias [3*H*Dh] of a block's W_Q/K/V and b_Q/K/V. */
export function fuseQKV(L: BlockParams): { W: tf.Tensor2D; b: tf.Tensor1D } {
  const [H, D, Dh] = L.WQ.shape;
  const flat = (w: tf.Tensor3D) => tf.reshape(tf.transpose(w, [1, 0, 2]), [D, H * Dh]);
  return {
    W: tf.concat([flat(L.WQ), flat(L.WK), flat(L.WV)], 1) as tf.Tensor2D,
    b: tf.concat([tf.reshape(L.bQ, [-1]), tf.reshape(L.bK, [-1]), tf.reshape(L.bV, [-1])]) as tf.Tensor1D,
  };
}

/**
 * Hook points of one block, by module-relative name (`attn.hook_q`, `ln1.hook_scale`, ...):
 * `at` fires one (its result replaces the activation where the forward uses it), `wants` says
 * whether any hook or cache reads it (the split q/k/v inputs and per-head results are only
 * computed when read).
 */
export interface BlockHooks {
  readonly at: (name: BlockHookName, x: tf.Tensor) => tf.Tensor;
  readonly wants: (name: BlockHookName) => boolean;
}

const noHook = (_name: BlockHookName, x: tf.Tensor): tf.Tensor => x;

/**
 * The model's normalisation of x [..., D] with weight and bias (null for LNPre): LayerNorm,
 * LNPre, or none (`scale` null). The one place the kind is chosen.
 */
export function normalize(x: tf.Tensor, w: tf.Tensor | null, b: tf.Tensor | null, cfg: ModelConfig): { out: tf.Tensor; scale: tf.Tensor | null } {
  if (cfg.normalizationType === null) return { out: x, scale: null };
  return layerNorm(x, w, b, cfg.eps);
}

/**
 * The input gradient of `normalize` at x [..., D] as a function of the output gradient: dy ->
 * dx (linear in dy). `expandAxis`: dy has one more axis there than x (e.g. heads [B,T,H,D]
 * against x [B,T,D]); the statistics are computed once on x and broadcast.
 */
export function normalizeVjp(x: tf.Tensor, w: tf.Tensor | null, cfg: ModelConfig, expandAxis?: number): (dy: tf.Tensor) => tf.Tensor {
  if (cfg.normalizationType === null) return (dy) => dy;
  const st = layerNorm(x, null, null, cfg.eps); // out = the normalised input
  const xhat = expandAxis === undefined ? st.out : tf.expandDims(st.out, expandAxis);
  const scale = expandAxis === undefined ? st.scale : tf.expandDims(st.scale, expandAxis);
  return (dy) => layerNormBackward(dy, xhat, scale, w);
}

/** `normalize` with the module's hook points (`ln1`, `ln2`) fired on the scale and the output. */
function normalizeHooked(x: tf.Tensor, w: tf.Tensor | null, b: tf.Tensor | null, cfg: ModelConfig, hooks: BlockHooks | undefined, scaleName: BlockHookName, outName: BlockHookName): tf.Tensor {
  const r = normalize(x, w, b, cfg);
  if (!hooks || r.scale === null) return r.out;
  hooks.at(scaleName, r.scale);
  return hooks.at(outName, r.out);
}

/**
 * The residual stream after the embedding, and the positions the q and k inputs add
 * (`qkPos`): standard positions join the residual stream here; shortformer positions only
 * ever join q and k inputs (`qkInput`).
 */
export function embedResidual(embed: tf.Tensor, pos: tf.Tensor, cfg: ModelConfig): { resid: tf.Tensor; qkPos: tf.Tensor | null } {
  if (cfg.positionalEmbeddingType === 'shortformer') return { resid: embed, qkPos: pos };
  return { resid: tf.add(embed, pos), qkPos: null };
}

/** A q or k input: x plus the shortformer positions (broadcastable to x), x itself otherwise. */
export function qkInput(x: tf.Tensor, qkPos: tf.Tensor | null, cfg: ModelConfig): tf.Tensor {
  return qkPos && cfg.positionalEmbeddingType === 'shortformer' ? tf.add(x, qkPos) : x;
}

/**
 * Normalised attention inputs: one per head ([N, T, nh, D] each; the q, k and v receivers of
 * the patching engine, the hooked model's split inputs), or shared by every head ([N, T, D]:
 * q and k read `qk`, v reads `v`; the same tensor unless positions are added to q/k only).
 */
export type AttentionInput =
  | { q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D }
  | { qk: tf.Tensor; v: tf.Tensor };

export interface AttentionOptions {
  /** the heads to compute (per-head inputs only; default: all, in order) */
  heads?: readonly number[];
  hooks?: BlockHooks;
  /**
   * 'out' (default): the attention output [N, T, D], b_O included, through the per-head results
   * when `attn.hook_result` is wanted; 'result': only the per-head outputs [N, T, nh, D],
   * without b_O (the patching engine's sender outputs).
   */
  output?: 'out' | 'result';
}

/**
 * Multi-head causal self-attention from normalised inputs. The q/k/v projections are per-head
 * 2-D matmuls on per-head inputs, one fused [D, 3*H*Dh] matmul on a shared input; the output
 * is per-head [Dh, D] matmuls when the per-head results are needed, one [H*Dh, D] matmul
 * otherwise (the same numbers; a computation choice, not a second attention).
 */
export function attention(L: BlockParams, cfg: ModelConfig, x: AttentionInput, opts: AttentionOptions = {}): { pattern: tf.Tensor4D; z: tf.Tensor4D; result: tf.Tensor4D | null; out: tf.Tensor | null } {
  const at = opts.hooks ? opts.hooks.at : noHook;
  const { nHeads: H, dHead: Dh } = cfg;
  let q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D;
  let WO: HeadWeights = L.WOh ?? L.WO;
  if ('q' in x) {
    const hs = opts.heads && opts.heads.length !== H ? opts.heads : null;
    const idx = hs ? tf.tensor1d(hs as number[], 'int32') : null;
    const heads = (list: tf.Tensor2D[] | undefined, w: tf.Tensor3D): HeadWeights => (!hs ? list ?? w : list ? hs.map((h) => list[h]) : tf.gather(w, idx!) as tf.Tensor3D);
    const bias = (b: tf.Tensor2D) => (idx ? tf.gather(b, idx) : b);
    q = perHeadIn(x.q, heads(L.WQh, L.WQ), bias(L.bQ));
    k = perHeadIn(x.k, heads(L.WKh, L.WK), bias(L.bK));
    v = perHeadIn(x.v, heads(L.WVh, L.WV), bias(L.bV));
    WO = heads(L.WOh, L.WO);
  } else {
    if (opts.heads && opts.heads.length !== H) throw new Error('attention: a head subset needs per-head inputs');
    const [N, T, D] = x.qk.shape;
    const fused = L.WQKV && L.bQKV ? { W: L.WQKV, b: L.bQKV } : fuseQKV(L);
    const part = (y: tf.Tensor, i: number) => tf.reshape(tf.slice(y, [0, 0, i * H * Dh], [N, T, H * Dh]), [N, T, H, Dh]) as tf.Tensor4D;
    if (x.qk === x.v) {
      const qkv = linear(x.qk, fused.W, fused.b); // [N,T,3*H*Dh]
      q = part(qkv, 0); k = part(qkv, 1); v = part(qkv, 2);
    } else {
      const qk = linear(x.qk, tf.slice(fused.W, [0, 0], [D, 2 * H * Dh]), tf.slice(fused.b, [0], [2 * H * Dh]));
      q = part(qk, 0); k = part(qk, 1);
      v = tf.reshape(linear(x.v, tf.slice(fused.W, [0, 2 * H * Dh], [D, H * Dh]), tf.slice(fused.b, [2 * H * Dh], [H * Dh])), [N, T, H, Dh]);
    }
  }
  q = at(blockHook.q, q) as tf.Tensor4D;
  k = at(blockHook.k, k) as tf.Tensor4D;
  v = at(blockHook.v, v) as tf.Tensor4D;
  const att = attentionPattern(q, k, cfg);
  at(blockHook.attnScores, att.scores);
  const pattern = at(blockHook.pattern, att.pattern) as tf.Tensor4D;
  const z = at(blockHook.z, attendValues(pattern, v)) as tf.Tensor4D;
  if (opts.output === 'result') return { pattern, z, result: perHeadOut(z, WO), out: null };
  if (opts.hooks?.wants(blockHook.result)) {
    const result = at(blockHook.result, perHeadOut(z, WO)) as tf.Tensor4D;
    return { pattern, z, result, out: tf.add(tf.sum(result, 2), L.bO) };
  }
  const [N, T, nh] = z.shape;
  const WOflat = L.WOflat ?? (tf.reshape(L.WO, [H * Dh, -1]) as tf.Tensor2D);
  return { pattern, z, result: null, out: linear(tf.reshape(z, [N, T, nh * Dh]), WOflat, L.bO) };
}

/**
 * The MLP of a normalised input x [..., D]: pre-activation, activation, output (b_out included
 * unless `bias` is false: the patching engine keeps it in its constants).
 */
export function mlp(L: BlockParams, cfg: ModelConfig, x: tf.Tensor, opts: { hooks?: BlockHooks; bias?: boolean } = {}): { pre: tf.Tensor; post: tf.Tensor; out: tf.Tensor } {
  const at = opts.hooks ? opts.hooks.at : noHook;
  const pre = at(blockHook.mlpPre, linear(x, L.Win!, L.bin));
  const post = at(blockHook.mlpPost, activation(pre, cfg.actFn!));
  return { pre, post, out: linear(post, L.Wout!, opts.bias === false ? null : L.bout) };
}

/**
 * The attention inputs of a block from its residual stream [N, T, D]: per-head copies (tiled,
 * then each normalised) when a hook reads `hook_q/k/v_input`, else the shared normalised input
 * (the fused projection's).
 */
function attentionInputs(L: BlockParams, cfg: ModelConfig, residPre: tf.Tensor, qkPos: tf.Tensor | null, hooks: BlockHooks | undefined): AttentionInput {
  const qkIn = qkInput(residPre, qkPos, cfg);
  const ln1 = (x: tf.Tensor) => normalizeHooked(x, L.ln1w, L.ln1b, cfg, hooks, blockHook.ln1Scale, blockHook.ln1Normalized);
  if (hooks && (hooks.wants(blockHook.qInput) || hooks.wants(blockHook.kInput) || hooks.wants(blockHook.vInput))) {
    const tile = (x: tf.Tensor) => tf.tile(tf.expandDims(x, 2), [1, 1, cfg.nHeads, 1]);
    const qi = hooks.at(blockHook.qInput, tile(qkIn));
    const ki = hooks.at(blockHook.kInput, tile(qkIn));
    const vi = hooks.at(blockHook.vInput, tile(residPre));
    return { q: ln1(qi) as tf.Tensor4D, k: ln1(ki) as tf.Tensor4D, v: ln1(vi) as tf.Tensor4D };
  }
  const qk = ln1(qkIn);
  return { qk, v: qkIn === residPre ? qk : normalize(residPre, L.ln1w, L.ln1b, cfg).out };
}

/**
 * One block on the residual stream [N, T, D] -> [N, T, D]: resid_pre, attention (ln1),
 * resid_mid, MLP (ln2), resid_post, firing `hooks` at TransformerLens' hook points. `qkPos`:
 * the shortformer positions (embedResidual).
 */
export function transformerBlock(L: BlockParams, cfg: ModelConfig, resid: tf.Tensor, opts: { qkPos?: tf.Tensor | null; hooks?: BlockHooks } = {}): tf.Tensor {
  const hooks = opts.hooks;
  const at = hooks ? hooks.at : noHook;
  const residPre = at(blockHook.residPre, resid);
  const attnOut = at(blockHook.attnOut, attention(L, cfg, attentionInputs(L, cfg, residPre, opts.qkPos ?? null, hooks), { hooks }).out!);
  if (cfg.attnOnly) return at(blockHook.residPost, tf.add(residPre, attnOut));
  const residMid = at(blockHook.residMid, tf.add(residPre, attnOut));
  const x = normalizeHooked(at(blockHook.mlpIn, residMid), L.ln2w, L.ln2b, cfg, hooks, blockHook.ln2Scale, blockHook.ln2Normalized);
  const mlpOut = at(blockHook.mlpOut, mlp(L, cfg, x, { hooks }).out);
  return at(blockHook.residPost, tf.add(residMid, mlpOut));
}

/**
 * The backward of a block's attention input side for every head at once (attribution): from
 * dMetric/d(hook_q, hook_k, hook_v) [B, T, H, Dh] and the un-normalised q/k and v inputs
 * [B, T, D] shared by the heads, dMetric/d(each head's q, k and v input) [B, T, H, D], through
 * W_Q/K/V[h] and ln1.
 */
export function attentionInputGrads(L: BlockParams, cfg: ModelConfig, d: { q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D }, x: { qk: tf.Tensor; v: tf.Tensor }): { q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D } {
  const backQK = normalizeVjp(x.qk, L.ln1w, cfg, 2);
  const backV = x.v === x.qk ? backQK : normalizeVjp(x.v, L.ln1w, cfg, 2);
  // dMetric/d(normalised input of head h) = d_h W[h]^T
  const through = (dh: tf.Tensor4D, list: tf.Tensor2D[] | undefined, w: tf.Tensor3D) => perHeadOut(dh, (list ?? (tf.unstack(w) as tf.Tensor2D[])).map((m) => tf.transpose(m) as tf.Tensor2D));
  return {
    q: backQK(through(d.q, L.WQh, L.WQ)) as tf.Tensor4D,
    k: backQK(through(d.k, L.WKh, L.WK)) as tf.Tensor4D,
    v: backV(through(d.v, L.WVh, L.WV)) as tf.Tensor4D,
  };
}
