/**
 * The training forward: the same computation as `HookedTransformer.forward` (standard
 * positions; LN / no LN; attention-only or MLP), written over a parameter lookup so that
 * gradients flow to tf.Variables. It composes the pure functions of src/model/components.ts;
 * a test checks it against HookedTransformer.forward on the same weights.
 *
 * Differences from the hooked forward, all numerically neutral: the token embedding is a
 * one-hot matmul (the wasm backend has no gradient kernel for gather), the q/k/v projections
 * are one fused matmul, and nothing is hooked. The additive causal mask and the GELU are the
 * model's own (components.ts). Train after `initBackend` (src/model/backend.ts): it installs the matMul gradient
 * with explicit transposes, 6-20x faster on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import { activation, additiveMask, attendValues, layerNorm, linear } from '../model/components.js';
import { expectedShapes, validateStateDict, hostTensor, type StateDict } from '../model/weights.js';

/** A parameter by its TransformerLens name (`embed.W_E`, `blocks.0.attn.W_Q`, ...). */
export type ParamLookup = (name: string) => tf.Tensor;

/** Logits [B, T, dVocabOut] of int32 tokens [B, T]. Call inside tf.tidy / a gradient closure. */
export function trainForward(cfg: ModelConfig, P: ParamLookup, tokens: tf.Tensor2D): tf.Tensor3D {
  if (cfg.positionalEmbeddingType !== 'standard') throw new Error(`train: positionalEmbeddingType '${cfg.positionalEmbeddingType}' is not supported by the training forward (standard only)`);
  const [B, T] = tokens.shape;
  if (T > cfg.nCtx) throw new Error(`train: sequence length ${T} exceeds nCtx ${cfg.nCtx}`);
  const { nHeads: H, dModel: D, dHead: Dh, dVocab: V } = cfg;
  const ln = cfg.normalizationType !== null;
  const norm = (x: tf.Tensor, w: string, b: string) => (ln ? layerNorm(x, cfg.normalizationType === 'LN' ? P(w) : null, cfg.normalizationType === 'LN' ? P(b) : null, cfg.eps).out : x);
  const oneHot = tf.oneHot(tf.reshape(tokens, [-1]) as tf.Tensor1D, V); // [B*T, V]
  let x: tf.Tensor = tf.reshape(tf.matMul(oneHot, P('embed.W_E') as tf.Tensor2D), [B, T, D]);
  x = tf.add(x, tf.slice(P('pos_embed.W_pos'), [0, 0], [T, D]));
  const flatIn = (w: tf.Tensor) => tf.reshape(tf.transpose(w, [1, 0, 2]), [D, H * Dh]) as tf.Tensor2D;
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `blocks.${l}`;
    const h = norm(x, `${p}.ln1.w`, `${p}.ln1.b`);
    const W = tf.concat([flatIn(P(`${p}.attn.W_Q`)), flatIn(P(`${p}.attn.W_K`)), flatIn(P(`${p}.attn.W_V`))], 1) as tf.Tensor2D;
    const b = tf.concat([tf.reshape(P(`${p}.attn.b_Q`), [-1]), tf.reshape(P(`${p}.attn.b_K`), [-1]), tf.reshape(P(`${p}.attn.b_V`), [-1])]);
    const qkv = linear(h, W, b);
    const part = (i: number) => tf.reshape(tf.slice(qkv, [0, 0, i * H * Dh], [B, T, H * Dh]), [B, T, H, Dh]) as tf.Tensor4D;
    let scores = tf.matMul(tf.transpose(part(0), [0, 2, 1, 3]), tf.transpose(part(1), [0, 2, 3, 1])); // [B,H,T,T]
    if (cfg.attnScale !== 1) scores = tf.div(scores, cfg.attnScale);
    const pattern = tf.softmax(tf.add(scores, additiveMask(T, cfg.attnIgnore)), -1) as tf.Tensor4D;
    const z = attendValues(pattern, part(2));
    const attnOut = linear(tf.reshape(z, [B, T, H * Dh]), tf.reshape(P(`${p}.attn.W_O`), [H * Dh, D]) as tf.Tensor2D, P(`${p}.attn.b_O`));
    x = tf.add(x, attnOut);
    if (!cfg.attnOnly) {
      const h2 = norm(x, `${p}.ln2.w`, `${p}.ln2.b`);
      const pre = linear(h2, P(`${p}.mlp.W_in`) as tf.Tensor2D, P(`${p}.mlp.b_in`));
      x = tf.add(x, linear(activation(pre, cfg.actFn!), P(`${p}.mlp.W_out`) as tf.Tensor2D, P(`${p}.mlp.b_out`)));
    }
  }
  x = norm(x, 'ln_final.w', 'ln_final.b');
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
