/**
 * A small tfjs trainer for the models the project ships: Adam (decoupled weight decay, linear
 * warm-up then cosine decay, global-norm gradient clipping), cross-entropy at chosen positions,
 * deterministic data order (the batch of step s is a pure function of s), periodic evaluation.
 * The forward is `trainForward` (src/train/forward.ts), the same computation as
 * HookedTransformer.forward, over tf.Variables.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import type { StateDict } from '../model/weights.js';
import { trainForward, type ParamLookup } from './forward.js';

/** One training batch: `targets[i][t]` is the label of position t of row i, or -1 (not scored). */
export interface TrainBatch {
  tokens: number[][];
  targets: number[][];
}

/** What the trainer needs of a model: its variables, the parameter lookup the forward reads
 * (it may derive parameters from the variables: tying, frozen parts) and a host export. */
export interface Parametrization {
  readonly cfg: ModelConfig;
  readonly variables: Map<string, tf.Variable>;
  readonly param: ParamLookup;
  stateDict(): StateDict;
  dispose(): void;
}

export interface TrainOptions {
  steps: number;
  /** peak learning rate */
  lr: number;
  /** linear warm-up steps (default 5% of steps) */
  warmup?: number;
  /** final learning rate as a fraction of the peak (cosine decay; default 0.1) */
  minLrFrac?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** decoupled weight decay (AdamW), applied to the variables `decay` accepts (default: matrices) */
  weightDecay?: number;
  decay?: (name: string) => boolean;
  /** clip the global gradient norm (default 1; 0 = off) */
  clip?: number;
  /** the batch of step s (0-based); must be deterministic in s */
  batch: (step: number) => TrainBatch;
  /** called every `evalEvery` steps and after the last; returns named metrics */
  evaluate?: (step: number) => Record<string, number>;
  evalEvery?: number;
  /** stop early once `evaluate` says so (checked after each evaluation) */
  stop?: (metrics: Record<string, number>) => boolean;
  log?: (line: string) => void;
}

export interface TrainResult {
  /** loss of every step, in order */
  losses: number[];
  evals: { step: number; metrics: Record<string, number> }[];
  steps: number;
  seconds: number;
}

/** Mean cross-entropy over the positions with a target >= 0. logits [B,T,V], targets [B,T] int32. */
export function maskedCrossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[2];
    const logp = tf.logSoftmax(logits, -1);
    // oneHot of -1 is all zeros: unscored positions contribute nothing.
    const picked = tf.sum(tf.mul(logp, tf.oneHot(targets, V)), -1);
    const count = tf.sum(tf.cast(tf.greaterEqual(targets, 0), 'float32'));
    return tf.div(tf.neg(tf.sum(picked)), tf.maximum(count, 1)) as tf.Scalar;
  });
}

function toInt2d(rows: number[][], what: string): tf.Tensor2D {
  const T = rows[0]?.length ?? 0;
  if (rows.length === 0 || T === 0) throw new Error(`train: empty ${what}`);
  const flat = new Int32Array(rows.length * T);
  rows.forEach((r, i) => {
    if (r.length !== T) throw new Error(`train: ${what} row ${i} has ${r.length} entries, row 0 has ${T}`);
    flat.set(r, i * T);
  });
  return tf.tensor2d(flat, [rows.length, T], 'int32');
}

/** Train in place. Deterministic given the model's initial values and `opts.batch`. */
export function train(model: Parametrization, opts: TrainOptions): TrainResult {
  const names = [...model.variables.keys()];
  const vars = names.map((n) => model.variables.get(n)!);
  const b1 = opts.beta1 ?? 0.9, b2 = opts.beta2 ?? 0.98, eps = opts.epsilon ?? 1e-8;
  const warmup = opts.warmup ?? Math.max(1, Math.round(opts.steps * 0.05));
  const minFrac = opts.minLrFrac ?? 0.1;
  const wd = opts.weightDecay ?? 0;
  const decay = opts.decay ?? ((n: string) => /\.W_|W_E|W_pos|W_U/.test(n));
  const clip = opts.clip ?? 1;
  const log = opts.log ?? (() => {});
  const zeroVar = (v: tf.Variable) => { const z = tf.zerosLike(v); const r = tf.variable(z, false); z.dispose(); return r; };
  const m = vars.map(zeroVar);
  const s = vars.map(zeroVar);
  const lrAt = (t: number) => {
    if (t < warmup) return opts.lr * (t + 1) / warmup;
    const q = (t - warmup) / Math.max(1, opts.steps - warmup);
    return opts.lr * (minFrac + (1 - minFrac) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, q))));
  };
  const losses: number[] = [];
  const evals: TrainResult['evals'] = [];
  const start = performance.now();
  let done = 0;
  try {
    for (let step = 0; step < opts.steps; step++) {
      const b = opts.batch(step);
      const loss = tf.tidy(() => {
        const tokens = toInt2d(b.tokens, 'tokens');
        const targets = toInt2d(b.targets, 'targets');
        const { value, grads } = tf.variableGrads(() => maskedCrossEntropy(trainForward(model.cfg, model.param, tokens), targets), vars);
        const g = vars.map((v) => grads[v.name]);
        let scale: tf.Scalar = tf.scalar(1);
        if (clip > 0) {
          const norm = tf.sqrt(tf.addN(g.map((x) => tf.sum(tf.square(x)))));
          scale = tf.minimum(1, tf.div(clip, tf.add(norm, 1e-12))) as tf.Scalar;
        }
        const t = step + 1;
        const lr = lrAt(step);
        const c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
        vars.forEach((v, i) => {
          const gi = tf.mul(g[i], scale);
          m[i].assign(tf.add(tf.mul(m[i], b1), tf.mul(gi, 1 - b1)));
          s[i].assign(tf.add(tf.mul(s[i], b2), tf.mul(tf.square(gi), 1 - b2)));
          let upd: tf.Tensor = tf.div(tf.div(m[i], c1), tf.add(tf.sqrt(tf.div(s[i], c2)), eps));
          if (wd > 0 && decay(names[i])) upd = tf.add(upd, tf.mul(v, wd));
          v.assign(tf.sub(v, tf.mul(upd, lr)));
        });
        return value.dataSync()[0];
      });
      if (!Number.isFinite(loss)) throw new Error(`train: ${model.cfg.modelName}: loss is ${loss} at step ${step}`);
      losses.push(loss);
      done = step + 1;
      const last = step === opts.steps - 1;
      if (opts.evaluate && ((opts.evalEvery && done % opts.evalEvery === 0) || last)) {
        const metrics = opts.evaluate(done);
        evals.push({ step: done, metrics });
        const avg = losses.slice(-50).reduce((a, x) => a + x, 0) / Math.min(50, losses.length);
        log(`step ${done}/${opts.steps} loss(avg50) ${avg.toFixed(4)} ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
        if (opts.stop?.(metrics)) break;
      }
    }
  } finally {
    tf.dispose([...m, ...s]);
  }
  return { losses, evals, steps: done, seconds: (performance.now() - start) / 1000 };
}
