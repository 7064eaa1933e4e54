/**
 * The training forward: HookedTransformer.forward's computation (the same transformerBlock of
 * src/model/block.ts, unhooked), over a parameter lookup so that gradients flow to
 * tf.Variables; a test checks it against HookedTransformer.forward on the same weights.
 *
 * Differences from the hooked forward, all numerically neutral: the token embedding is a
 * one-hot matmul (the wasm backend has no gradient kernel for gather), and the fused q/k/v and
 * W_O forms are derived from the parameters inside the forward (so their gradients reach the
 * variables). Train after `initBackend` (src/model/backend.ts): it installs the matMul gradient
 * with explicit transposes, 6-20x faster on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import { linear } from '../model/components.js';
import { embedResidual, normalize, transformerBlock, type BlockParams } from '../model/block.js';
import { expectedShapes, validateStateDict, hostTensor, type StateDict } from '../model/weights.js';

/** A parameter by its TransformerLens name (`embed.W_E`, `blocks.0.attn.W_Q`, ...). */
export type ParamLookup = (name: string) => tf.Tensor;

/** Layer l's parameters from a lookup, in the TransformerLens forms only (block.ts derives the rest). */
function blockParams(cfg: ModelConfig, P: ParamLookup, l: number): BlockParams {
  const p = `blocks.${l}`;
  const ln = (name: string) => (cfg.normalizationType === 'LN' ? (P(name) as tf.Tensor1D) : null);
  const mlp = <T extends tf.Tensor>(name: string) => (cfg.attnOnly ? null : (P(name) as T));
  return {
    ln1w: ln(`${p}.ln1.w`), ln1b: ln(`${p}.ln1.b`),
    ln2w: cfg.attnOnly ? null : ln(`${p}.ln2.w`), ln2b: cfg.attnOnly ? null : ln(`${p}.ln2.b`),
    WQ: P(`${p}.attn.W_Q`) as tf.Tensor3D, WK: P(`${p}.attn.W_K`) as tf.Tensor3D, WV: P(`${p}.attn.W_V`) as tf.Tensor3D,
    bQ: P(`${p}.attn.b_Q`) as tf.Tensor2D, bK: P(`${p}.attn.b_K`) as tf.Tensor2D, bV: P(`${p}.attn.b_V`) as tf.Tensor2D,
    WO: P(`${p}.attn.W_O`) as tf.Tensor3D, bO: P(`${p}.attn.b_O`) as tf.Tensor1D,
    Win: mlp<tf.Tensor2D>(`${p}.mlp.W_in`), bin: mlp<tf.Tensor1D>(`${p}.mlp.b_in`),
    Wout: mlp<tf.Tensor2D>(`${p}.mlp.W_out`), bout: mlp<tf.Tensor1D>(`${p}.mlp.b_out`),
  };
}

/** Logits [B, T, dVocabOut] of int32 tokens [B, T]. Call inside tf.tidy / a gradient closure. */
export function trainForward(cfg: ModelConfig, P: ParamLookup, tokens: tf.Tensor2D): tf.Tensor3D {
  const [B, T] = tokens.shape;
  if (T > cfg.nCtx) throw new Error(`train: sequence length ${T} exceeds nCtx ${cfg.nCtx}`);
  const { dModel: D, dVocab: V } = cfg;
  const oneHot = tf.oneHot(tf.reshape(tokens, [-1]) as tf.Tensor1D, V); // [B*T, V]
  const embed = tf.reshape(tf.matMul(oneHot, P('embed.W_E') as tf.Tensor2D), [B, T, D]);
  const { resid, qkPos } = embedResidual(embed, tf.slice(P('pos_embed.W_pos'), [0, 0], [T, D]), cfg);
  let x = resid;
  for (let l = 0; l < cfg.nLayers; l++) x = transformerBlock(blockParams(cfg, P, l), cfg, x, { qkPos });
  const lnf = (name: string) => (cfg.normalizationType === 'LN' ? P(name) : null);
  x = normalize(x, lnf('ln_final.w'), lnf('ln_final.b'), cfg).out;
  return linear(x, P('unembed.W_U') as tf.Tensor2D, P('unembed.b_U')) as tf.Tensor3D;
}

/**
 * The parameters of a model as tensors: tf.Variables for the names `trainable` accepts, constant
 * tensors for the rest (e.g. biases frozen at zero). Owns its tensors.
 */
export class TrainableModel {
  readonly variables: Map<string, tf.Variable>;
  readonly constants: Map<string, tf.Tensor>;

  constructor(readonly cfg: ModelConfig, sd: StateDict, trainable: (name: string) => boolean = () => true) {
    const full = validateStateDict(cfg, sd, `${cfg.modelName} (training)`);
    this.variables = new Map();
    this.constants = new Map();
    for (const [name, t] of full) {
      const x = tf.tensor(t.data, t.shape as number[], 'float32');
      if (trainable(name)) { this.variables.set(name, tf.variable(x, true)); x.dispose(); } else this.constants.set(name, x);
    }
  }

  /** The lookup trainForward reads. */
  readonly param: ParamLookup = (name) => {
    const t = this.variables.get(name) ?? this.constants.get(name);
    if (!t) throw new Error(`train: ${this.cfg.modelName}: no parameter '${name}'`);
    return t;
  };

  forward(tokens: tf.Tensor2D): tf.Tensor3D {
    return trainForward(this.cfg, this.param, tokens);
  }

  /** Host copy of every parameter (TransformerLens names, config order). */
  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [name, shape] of expectedShapes(this.cfg)) {
      sd.set(name, hostTensor(shape, new Float32Array(this.param(name).dataSync())));
    }
    return sd;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    for (const c of this.constants.values()) c.dispose();
    this.variables.clear();
    this.constants.clear();
  }
}
