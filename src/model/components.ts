/**
 * The transformer's pieces as pure tensor functions. Shapes use B batch, T positions, H heads,
 * D dModel, Dh dHead, M dMlp, V vocab. src/model/block.ts composes them into the one
 * transformer block that every forward runs.
 */
import * as tf from '@tensorflow/tfjs';
import type { ActFn, ModelConfig } from './config.js';

/** LayerNorm over the last axis. `w`/`b` null gives LNPre (centre and scale only). */
export function layerNorm(x: tf.Tensor, w: tf.Tensor | null, b: tf.Tensor | null, eps: number): { scale: tf.Tensor; out: tf.Tensor } {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const scale = tf.sqrt(tf.add(tf.mean(tf.square(centered), -1, true), eps));
  let out = tf.div(centered, scale);
  if (w) out = tf.mul(out, w);
  if (b) out = tf.add(out, b);
  return { scale, out };
}

/**
 * LayerNorm's input gradient for upstream gradients `dy` [..., D] of outputs xhat * w + b,
 * given the normalised input `xhat` and `scale` (broadcastable to dy): (g - mean(g) - xhat *
 * mean(g * xhat)) / scale with g = dy * w. `w` null: LNPre.
 */
export function layerNormBackward(dy: tf.Tensor, xhat: tf.Tensor, scale: tf.Tensor, w: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const g = w ? tf.mul(dy, w) : dy;
    const a = tf.mean(g, -1, true);
    const c = tf.mean(tf.mul(g, xhat), -1, true);
    return tf.div(tf.sub(tf.sub(g, a), tf.mul(xhat, c)), scale);
  });
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function activation(x: tf.Tensor, fn: ActFn): tf.Tensor {
  switch (fn) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      // exact GELU: 0.5 x (1 + erf(x / sqrt 2))
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    case 'gelu_new':
    case 'gelu_fast': {
      // x*x*x, not tf.pow: pow is several times slower on wasm
      const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), SQRT_2_OVER_PI);
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
  }
}

/** [..., D] x [D, N] -> [..., N] via one 2-D matmul. */
export function linear(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor | null): tf.Tensor {
  const lead = x.shape.slice(0, -1);
  const d = x.shape[x.rank - 1];
  let y: tf.Tensor = tf.matMul(tf.reshape(x, [-1, d]) as tf.Tensor2D, w);
  if (b) y = tf.add(y, b);
  return tf.reshape(y, [...lead, w.shape[1]]);
}

/**
 * Per-head weights: one [H, ...] tensor, or one 2-D matrix per head. The list form runs H plain
 * 2-D matmuls, which on wasm are ~10x faster than one batched [H, n, k] x [H, k, m] matmul (the
 * batched kernel does not use XNNPACK; measured [12,90,64] x [12,64,768]: 98 ms vs 9 ms); keep
 * the list's matrices alive across calls so XNNPACK's packed-weight cache hits.
 */
export type HeadWeights = tf.Tensor3D | readonly tf.Tensor2D[];

/** [H, N, K] x per-head [K, M] -> list of H [N, M] products. */
function perHead(xh: tf.Tensor3D, w: HeadWeights): tf.Tensor {
  if (w instanceof tf.Tensor) return tf.matMul(xh, w);
  const [H, N, K] = xh.shape;
  if (w.length !== H) throw new Error(`perHead: ${w.length} head matrices for ${H} heads`);
  return tf.stack(w.map((wh, h) => tf.matMul(tf.reshape(tf.slice(xh, [h, 0, 0], [1, N, K]), [N, K]) as tf.Tensor2D, wh)));
}

/** Per-head projection: x [B,T,H,D] with W [H,D,Dh] -> [B,T,H,Dh] (each head reads its own input). */
export function perHeadIn(x: tf.Tensor4D, w: HeadWeights, b?: tf.Tensor | null): tf.Tensor4D {
  const [B, T, H, D] = x.shape;
  const xh = tf.reshape(tf.transpose(x, [2, 0, 1, 3]), [H, B * T, D]) as tf.Tensor3D;
  const y = perHead(xh, w); // [H, B*T, Dh]
  let out = tf.transpose(tf.reshape(y, [H, B, T, -1]), [1, 2, 0, 3]) as tf.Tensor4D;
  if (b) out = tf.add(out, b) as tf.Tensor4D;
  return out;
}

/** Per-head output: z [B,T,H,Dh] with W_O [H,Dh,D] -> result [B,T,H,D] (no b_O). */
export function perHeadOut(z: tf.Tensor4D, wO: HeadWeights): tf.Tensor4D {
  const [B, T, H, Dh] = z.shape;
  const zh = tf.reshape(tf.transpose(z, [2, 0, 1, 3]), [H, B * T, Dh]) as tf.Tensor3D;
  const y = perHead(zh, wO); // [H, B*T, D]
  return tf.transpose(tf.reshape(y, [H, B, T, -1]), [1, 2, 0, 3]) as tf.Tensor4D;
}

const addMaskCache = new Map<string, tf.Tensor>();
/**
 * Additive causal mask [1,1,T,T]: 0 where attention is allowed, `ignore` above the diagonal.
 * Adding it is far cheaper on wasm than tf.where with a broadcast condition (which tiles it to
 * the scores' shape). Masked scores become score + ignore instead of exactly `ignore`; after the
 * softmax both are 0 in float32 (exp(-1e5) underflows).
 */
export function additiveMask(T: number, ignore: number): tf.Tensor {
  const key = `${T}:${ignore}`;
  let m = addMaskCache.get(key);
  if (!m || m.isDisposed) {
    const d = new Float32Array(T * T);
    for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) d[q * T + k] = ignore;
    m = tf.keep(tf.tensor4d(d, [1, 1, T, T]));
    addMaskCache.set(key, m);
  }
  return m;
}
/** Attention scores (masked) and pattern from q,k [B,T,H,Dh]. */
export function attentionPattern(q: tf.Tensor4D, k: tf.Tensor4D, cfg: ModelConfig): { scores: tf.Tensor4D; pattern: tf.Tensor4D } {
  const T = q.shape[1];
  const qh = tf.transpose(q, [0, 2, 1, 3]); // [B,H,T,Dh]
  const kh = tf.transpose(k, [0, 2, 1, 3]);
  let raw = tf.matMul(qh, kh, false, true);
  if (cfg.attnScale !== 1) raw = tf.div(raw, cfg.attnScale);
  const scores = tf.add(raw, additiveMask(T, cfg.attnIgnore)) as tf.Tensor4D;
  const pattern = tf.softmax(scores, -1) as tf.Tensor4D;
  return { scores, pattern };
}

/** z [B,T,H,Dh] = pattern [B,H,Tq,Tk] @ v [B,T,H,Dh]. */
export function attendValues(pattern: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor4D {
  const vh = tf.transpose(v, [0, 2, 1, 3]);
  return tf.transpose(tf.matMul(pattern, vh), [0, 2, 1, 3]) as tf.Tensor4D;
}
