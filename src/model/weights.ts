/**
 * Host-side weights in TransformerLens naming, before they become tfjs tensors.
 * Every loader (HF GPT-2, TransformerLens safetensors, torch .pt) produces a `StateDict` whose
 * keys and shapes are the ones `expectedShapes(cfg)` lists; `validateStateDict` checks it and
 * fills the biases a bias-free model does not store with zeros.
 */
import type { ModelConfig } from './config.js';

export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}
export type StateDict = Map<string, HostTensor>;

export function hostTensor(shape: readonly number[], data?: Float32Array): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = data ?? new Float32Array(n);
  if (d.length !== n) throw new Error(`weights: data length ${d.length} does not match shape [${shape.join(', ')}]`);
  return { shape: [...shape], data: d };
}

/** The parameters of a model of this config, TransformerLens names and shapes. */
export function expectedShapes(cfg: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { dModel: D, nHeads: H, dHead: Dh, dVocab: V, dVocabOut: Vo, nCtx } = cfg;
  m.set('embed.W_E', [V, D]);
  m.set('pos_embed.W_pos', [nCtx, D]);
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}`;
    if (cfg.normalizationType === 'LN') {
      m.set(`${b}.ln1.w`, [D]); m.set(`${b}.ln1.b`, [D]);
      if (!cfg.attnOnly) { m.set(`${b}.ln2.w`, [D]); m.set(`${b}.ln2.b`, [D]); }
    }
    for (const x of ['Q', 'K', 'V']) {
      m.set(`${b}.attn.W_${x}`, [H, D, Dh]);
      m.set(`${b}.attn.b_${x}`, [H, Dh]);
    }
    m.set(`${b}.attn.W_O`, [H, Dh, D]);
    m.set(`${b}.attn.b_O`, [D]);
    if (!cfg.attnOnly) {
      const M = cfg.dMlp as number;
      m.set(`${b}.mlp.W_in`, [D, M]); m.set(`${b}.mlp.b_in`, [M]);
      m.set(`${b}.mlp.W_out`, [M, D]); m.set(`${b}.mlp.b_out`, [D]);
    }
  }
  if (cfg.normalizationType === 'LN') { m.set('ln_final.w', [D]); m.set('ln_final.b', [D]); }
  m.set('unembed.W_U', [D, Vo]);
  m.set('unembed.b_U', [Vo]);
  return m;
}

const OPTIONAL_ZERO = /(\.b_[QKVO]|\.b_in|\.b_out|unembed\.b_U|pos_embed\.W_pos)$/;
/** Buffers TransformerLens keeps in state dicts that are not parameters. */
const IGNORED = /(\.attn\.(mask|IGNORE)|\.attn\.(bias|masked_bias))$/;

/**
 * Check names and shapes against the config; fill absent biases (and an absent W_pos) with
 * zeros; drop TransformerLens buffers. Errors name `source` and the tensor.
 */
export function validateStateDict(cfg: ModelConfig, sd: StateDict, source: string): StateDict {
  const want = expectedShapes(cfg);
  const out: StateDict = new Map();
  for (const [name, t] of sd) {
    if (IGNORED.test(name)) continue;
    const shape = want.get(name);
    if (!shape) throw new Error(`weights: ${source}: unexpected tensor '${name}' [${t.shape.join(', ')}] for a model with config ${describe(cfg)}`);
    if (shape.length !== t.shape.length || shape.some((s, i) => s !== t.shape[i])) {
      throw new Error(`weights: ${source}: tensor '${name}' has shape [${t.shape.join(', ')}] but the config needs [${shape.join(', ')}]`);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new Error(`weights: ${source}: tensor '${name}' holds ${t.data.length} values, shape needs ${n}`);
    out.set(name, t);
  }
  for (const [name, shape] of want) {
    if (out.has(name)) continue;
    if (OPTIONAL_ZERO.test(name)) { out.set(name, hostTensor(shape)); continue; }
    throw new Error(`weights: ${source}: missing tensor '${name}' [${shape.join(', ')}]`);
  }
  return out;
}

function describe(cfg: ModelConfig): string {
  return `(nLayers ${cfg.nLayers}, nHeads ${cfg.nHeads}, dModel ${cfg.dModel}, attnOnly ${cfg.attnOnly}, norm ${cfg.normalizationType})`;
}

/** Deterministic random weights (for presets without a checkpoint, tests and benches). */
export function randomStateDict(cfg: ModelConfig, seed = 0, std = 0.02): StateDict {
  let s = seed >>> 0 || 1;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
  const gauss = () => { const u = rand() || 1e-12, v = rand(); return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v); };
  const sd: StateDict = new Map();
  for (const [name, shape] of expectedShapes(cfg)) {
    const t = hostTensor(shape);
    if (/\.w$/.test(name)) t.data.fill(1);
    else if (!/\.b$/.test(name)) for (let i = 0; i < t.data.length; i++) t.data[i] = gauss() * std;
    sd.set(name, t);
  }
  return sd;
}
