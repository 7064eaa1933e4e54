/**
 * Weight processing as pure functions on host state dicts (TransformerLens semantics). Each one
 * returns a new config and state dict and leaves its input untouched; the model records the
 * list applied, and every result file carries it. Raw weights (no processing) are the default.
 *
 * - foldLayerNorm: fold each LayerNorm's weight and bias into the weights that read from it;
 *   the model becomes LNPre (centre and scale only), and the folded reading weights are
 *   centred over d_model (harmless: LNPre's output is centred).
 * - centerWritingWeights: subtract the d_model mean from everything that writes to the residual
 *   stream (W_E, W_pos, W_O, b_O, W_out, b_out); exact when a LayerNorm reads every residual.
 * - centerUnembed: subtract the vocabulary mean from W_U and b_U (softmax is shift invariant).
 * - foldValueBiases: move b_V into b_O (attention rows sum to 1).
 */
import type { ModelConfig } from './config.js';
import { finalizeConfig } from './config.js';
import { hostTensor, type HostTensor, type StateDict } from './weights.js';

export const PROCESSING_STEPS = ['foldLayerNorm', 'centerWritingWeights', 'centerUnembed', 'foldValueBiases'] as const;
export type ProcessingStep = (typeof PROCESSING_STEPS)[number];

export interface Processed { config: ModelConfig; stateDict: StateDict }

function get(sd: StateDict, name: string): HostTensor {
  const t = sd.get(name);
  if (!t) throw new Error(`processing: missing tensor '${name}'`);
  return t;
}

/** W [H, D, Dh] (or [D, N] with heads=1 view) scaled per input row by w[D]; bias += b . W. */
function foldInto(W: HostTensor, bias: HostTensor, lnW: HostTensor, lnB: HostTensor, center: boolean): [HostTensor, HostTensor] {
  // Treat W as [G, D, N] with G groups (heads) — G = 1 for 2-D weights.
  const is3 = W.shape.length === 3;
  const G = is3 ? W.shape[0] : 1, D = is3 ? W.shape[1] : W.shape[0], N = is3 ? W.shape[2] : W.shape[1];
  const w = new Float32Array(W.data.length);
  const b = new Float32Array(bias.data);
  for (let g = 0; g < G; g++) {
    for (let n = 0; n < N; n++) {
      let acc = 0, mean = 0;
      for (let d = 0; d < D; d++) {
        const i = g * D * N + d * N + n;
        acc += lnB.data[d] * W.data[i];
        w[i] = W.data[i] * lnW.data[d];
        mean += w[i];
      }
      b[g * N + n] += acc;
      if (center) { mean /= D; for (let d = 0; d < D; d++) w[g * D * N + d * N + n] -= mean; }
    }
  }
  return [hostTensor(W.shape, w), hostTensor(bias.shape, b)];
}

export function foldLayerNorm(cfg: ModelConfig, sd: StateDict): Processed {
  if (cfg.normalizationType !== 'LN') throw new Error(`processing: foldLayerNorm needs LayerNorm with weights (model has ${cfg.normalizationType ?? 'none'})`);
  const out: StateDict = new Map(sd);
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `blocks.${l}`;
    const w1 = get(sd, `${p}.ln1.w`), b1 = get(sd, `${p}.ln1.b`);
    for (const x of ['Q', 'K', 'V']) {
      const [W, b] = foldInto(get(sd, `${p}.attn.W_${x}`), get(sd, `${p}.attn.b_${x}`), w1, b1, true);
      out.set(`${p}.attn.W_${x}`, W); out.set(`${p}.attn.b_${x}`, b);
    }
    out.delete(`${p}.ln1.w`); out.delete(`${p}.ln1.b`);
    if (!cfg.attnOnly) {
      const [W, b] = foldInto(get(sd, `${p}.mlp.W_in`), get(sd, `${p}.mlp.b_in`), get(sd, `${p}.ln2.w`), get(sd, `${p}.ln2.b`), true);
      out.set(`${p}.mlp.W_in`, W); out.set(`${p}.mlp.b_in`, b);
      out.delete(`${p}.ln2.w`); out.delete(`${p}.ln2.b`);
    }
  }
  const [WU, bU] = foldInto(get(sd, 'unembed.W_U'), get(sd, 'unembed.b_U'), get(sd, 'ln_final.w'), get(sd, 'ln_final.b'), true);
  out.set('unembed.W_U', WU); out.set('unembed.b_U', bU);
  out.delete('ln_final.w'); out.delete('ln_final.b');
  return { config: finalizeConfig({ ...cfg, normalizationType: 'LNPre' }, cfg.modelName), stateDict: out };
}

/** Subtract the mean over the last axis (length D) from each row. */
function centerLast(t: HostTensor): HostTensor {
  const D = t.shape[t.shape.length - 1];
  const d = new Float32Array(t.data);
  for (let r = 0; r < d.length; r += D) {
    let m = 0;
    for (let i = 0; i < D; i++) m += d[r + i];
    m /= D;
    for (let i = 0; i < D; i++) d[r + i] -= m;
  }
  return hostTensor(t.shape, d);
}

export function centerWritingWeights(cfg: ModelConfig, sd: StateDict): Processed {
  if (cfg.normalizationType === null) throw new Error('processing: centerWritingWeights needs LayerNorm (the model has none)');
  const out: StateDict = new Map(sd);
  const names = ['embed.W_E'];
  // Shortformer position embeddings never enter the residual stream.
  if (cfg.positionalEmbeddingType === 'standard') names.push('pos_embed.W_pos');
  for (let l = 0; l < cfg.nLayers; l++) {
    names.push(`blocks.${l}.attn.W_O`, `blocks.${l}.attn.b_O`);
    if (!cfg.attnOnly) names.push(`blocks.${l}.mlp.W_out`, `blocks.${l}.mlp.b_out`);
  }
  for (const n of names) out.set(n, centerLast(get(sd, n)));
  return { config: cfg, stateDict: out };
}

export function centerUnembed(cfg: ModelConfig, sd: StateDict): Processed {
  const out: StateDict = new Map(sd);
  out.set('unembed.W_U', centerLast(get(sd, 'unembed.W_U')));
  out.set('unembed.b_U', centerLast(get(sd, 'unembed.b_U')));
  return { config: cfg, stateDict: out };
}

export function foldValueBiases(cfg: ModelConfig, sd: StateDict): Processed {
  const out: StateDict = new Map(sd);
  const { nHeads: H, dHead: Dh, dModel: D } = cfg;
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `blocks.${l}.attn`;
    const bV = get(sd, `${p}.b_V`), WO = get(sd, `${p}.W_O`);
    const bO = new Float32Array(get(sd, `${p}.b_O`).data);
    for (let h = 0; h < H; h++) for (let e = 0; e < Dh; e++) {
      const v = bV.data[h * Dh + e];
      if (v === 0) continue;
      for (let d = 0; d < D; d++) bO[d] += v * WO.data[(h * Dh + e) * D + d];
    }
    out.set(`${p}.b_O`, hostTensor([D], bO));
    out.set(`${p}.b_V`, hostTensor([H, Dh]));
  }
  return { config: cfg, stateDict: out };
}

const STEP_FNS: Record<ProcessingStep, (c: ModelConfig, s: StateDict) => Processed> = {
  foldLayerNorm, centerWritingWeights, centerUnembed, foldValueBiases,
};

/** Apply steps in order; unknown names are an error naming the step. */
export function applyProcessing(cfg: ModelConfig, sd: StateDict, steps: readonly string[]): Processed {
  let cur: Processed = { config: cfg, stateDict: sd };
  for (const s of steps) {
    const fn = STEP_FNS[s as ProcessingStep];
    if (!fn) throw new Error(`processing: unknown step '${s}' (known: ${PROCESSING_STEPS.join(', ')})`);
    cur = fn(cur.config, cur.stateDict);
  }
  return cur;
}
