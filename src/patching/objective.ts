/**
 * What discovery measures on a patched run. `evaluate` turns logits [C, B, K, V] into one
 * number per circuit, LOWER = closer to the clean model (ACDC minimises): KL(clean || patched)
 * averaged over rows and metric positions, or the negated task metric. `taskMetric` gives the
 * task metric itself (higher = behaviour present) for reports and for attribution gradients.
 * Both read the device once per call (one [C] vector).
 *
 * An objective knows its batch and clean logits, so an engine that splits the rows (chunks,
 * threads) takes the objective of its rows with `rows(s, e)`.
 */
import { yieldToEventLoop } from '../util/yield.js';
import * as tf from '@tensorflow/tfjs';
import type { Task, TaskBatch } from '../tasks/types.js';
import { klDivergence } from '../tasks/metrics.js';

export type MetricKind = 'kl' | 'task';

export type ObjectiveTask = Pick<Task, 'metric' | 'metricName'>;

export interface Objective {
  readonly kind: MetricKind;
  readonly name: string;
  readonly task: ObjectiveTask;
  readonly batch: TaskBatch;
  /** the clean model's logits at the metric positions [B, K, V] (owned by the objective) */
  readonly clean: tf.Tensor3D;
  /** per-circuit objective, lower is better */
  evaluate(logits: tf.Tensor4D): Promise<number[]>;
  /** differentiable scalar whose gradient attribution uses: mean over circuits of the task metric (or -KL) */
  differentiable(logits: tf.Tensor4D): tf.Scalar;
  /** the task metric per circuit (higher = behaviour present) */
  taskMetric(logits: tf.Tensor4D): Promise<number[]>;
  /** the same objective over rows [s, e) of the batch (the caller disposes it) */
  rows(s: number, e: number): Objective;
  dispose(): void;
}

/** One value per circuit of `logits` [C, B, K, V], read from the device once. */
export async function perCircuit(logits: tf.Tensor4D, f: (l: tf.Tensor3D) => tf.Scalar): Promise<number[]> {
  const v = tf.tidy(() => tf.stack(tf.unstack(logits).map((l) => f(l as tf.Tensor3D))));
  try {
    const out = Array.from(await v.data());
    await yieldToEventLoop(); // timers, signals and messages get their turn between batches
    return out;
  } finally {
    v.dispose();
  }
}

function checkFinite(xs: number[], what: string): number[] {
  for (const x of xs) if (!Number.isFinite(x)) throw new Error(`objective: the ${what} metric is ${x} (NaN or infinite logits?)`);
  return xs;
}

/** Rows [s, e) of a batch (per-row arrays in `meta` are sliced too). */
export function sliceBatch(b: TaskBatch, s: number, e: number): TaskBatch {
  const n = b.clean.length;
  const meta = b.meta ? Object.fromEntries(Object.entries(b.meta).map(([k, v]) => [k, Array.isArray(v) && v.length === n ? v.slice(s, e) : v])) : undefined;
  return { clean: b.clean.slice(s, e), corrupt: b.corrupt.slice(s, e), positions: b.positions.slice(s, e), answers: b.answers.slice(s, e), wrong: b.wrong.slice(s, e), ...(meta ? { meta } : {}) };
}

export function makeObjective(kind: MetricKind, task: ObjectiveTask, batch: TaskBatch, cleanLogits: tf.Tensor3D): Objective {
  const clean = tf.keep(cleanLogits.clone()); // [B, K, V]
  const what = kind === 'kl' ? 'KL' : task.metricName;
  return {
    kind, task, batch, clean,
    name: kind === 'kl' ? 'kl' : task.metricName,
    evaluate: async (logits) => checkFinite(await perCircuit(logits, (l) => (kind === 'kl' ? klDivergence(clean, l) : tf.neg(task.metric(l, batch)))), what),
    differentiable: (logits) => tf.tidy(() => {
      const [C, B, K, V] = logits.shape;
      // slices, not unstack: tfjs' Unpack gradient fails when a piece gets no gradient
      const parts = Array.from({ length: C }, (_, c) => {
        const l = tf.reshape(tf.slice(logits, [c, 0, 0, 0], [1, B, K, V]), [B, K, V]) as tf.Tensor3D;
        return kind === 'kl' ? tf.neg(klDivergence(clean, l)) : task.metric(l, batch);
      });
      return tf.div(tf.addN(parts), C) as tf.Scalar;
    }),
    taskMetric: async (logits) => checkFinite(await perCircuit(logits, (l) => task.metric(l, batch)), task.metricName),
    rows: (s, e) => {
      const cl = tf.slice(clean, [s, 0, 0], [e - s, -1, -1]);
      try { return makeObjective(kind, task, sliceBatch(batch, s, e), cl); } finally { cl.dispose(); }
    },
    dispose: () => clean.dispose(),
  };
}
