/**
 * What discovery measures on a patched run. `evaluate` turns logits [C, B, K, V] into one
 * number per circuit, LOWER = closer to the clean model (ACDC minimises): KL(clean || patched)
 * averaged over rows and metric positions, or the negated task metric. `taskMetric` gives the
 * task metric itself (higher = behaviour present) for reports and for attribution gradients.
 */
import * as tf from '@tensorflow/tfjs';
import type { Task, TaskBatch } from '../tasks/types.js';
import { klDivergence } from '../tasks/metrics.js';

export type MetricKind = 'kl' | 'task';

export interface Objective {
  readonly kind: MetricKind;
  readonly name: string;
  /** per-circuit objective, lower is better */
  evaluate(logits: tf.Tensor4D): number[];
  /** differentiable scalar whose gradient attribution uses: mean over circuits of the task metric (or -KL) */
  differentiable(logits: tf.Tensor4D): tf.Scalar;
  /** the task metric per circuit (higher = behaviour present) */
  taskMetric(logits: tf.Tensor4D): number[];
  dispose(): void;
}

export function makeObjective(kind: MetricKind, task: Pick<Task, 'metric' | 'metricName'>, batch: TaskBatch, cleanLogits: tf.Tensor3D): Objective {
  const clean = tf.keep(cleanLogits.clone()); // [B, K, V]
  const perCircuit = (logits: tf.Tensor4D, f: (l: tf.Tensor3D) => tf.Scalar): number[] =>
    tf.tidy(() => tf.unstack(logits).map((l) => f(l as tf.Tensor3D).dataSync()[0]));
  const checkFinite = (xs: number[], what: string) => {
    for (const x of xs) if (!Number.isFinite(x)) throw new Error(`objective: the ${what} metric is ${x} (NaN or infinite logits?)`);
    return xs;
  };
  return {
    kind,
    name: kind === 'kl' ? 'kl' : task.metricName,
    evaluate: (logits) => checkFinite(kind === 'kl'
      ? perCircuit(logits, (l) => klDivergence(clean, l))
      : perCircuit(logits, (l) => tf.neg(task.metric(l, batch))), kind === 'kl' ? 'KL' : task.metricName),
    differentiable: (logits) => tf.tidy(() => {
      const [C, B, K, V] = logits.shape;
      // slices, not unstack: tfjs' Unpack gradient fails when a piece gets no gradient
      const parts = Array.from({ length: C }, (_, c) => {
        const l = tf.reshape(tf.slice(logits, [c, 0, 0, 0], [1, B, K, V]), [B, K, V]) as tf.Tensor3D;
        return kind === 'kl' ? tf.neg(klDivergence(clean, l)) : task.metric(l, batch);
      });
      return tf.div(tf.addN(parts), C) as tf.Scalar;
    }),
    taskMetric: (logits) => checkFinite(perCircuit(logits, (l) => task.metric(l, batch)), task.metricName),
    dispose: () => clean.dispose(),
  };
}
