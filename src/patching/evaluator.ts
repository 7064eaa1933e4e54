/**
 * The engine interface that discovery methods and evaluators see (docs/methods.md),
 * implemented by PatchingEngine (./engine.ts), ChunkedEngine (./chunked.ts) and
 * ParallelEngine (src/parallel/engine.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import type { PatchLayout } from '../graph/layout.js';
import type { Objective } from './objective.js';
import type { Interpolation } from './attribution.js';

/** FLOPs spent, counted per batch row of each circuit. */
export interface EngineStats { runs: number; circuits: number; flops: number }

export type MaybePromise<T> = T | Promise<T>;

export interface RunOptions { from?: { dispose(): void }; separately?: boolean }

/** Row-weighted d metric / d probe over a batch ([R*S], receiver-major), and the seconds spent. */
export interface Attribution { grad: Float64Array; seconds: number }

/**
 * The objective at a soft mask and its gradient with respect to every mask entry: `value` is
 * `objective.differentiable` of the masked run (the task metric, or -KL: higher = closer to the
 * clean behaviour), the mean over all rows; `grad` [R*S] (receiver-major, 0 where no edge) the
 * row-weighted mean of each split's gradient.
 */
export interface MaskGradient { value: number; grad: Float64Array }

/**
 * The one interface discovery and evaluation see: evaluate circuits (`run`, masks -> logits at
 * the metric positions), attribute (gradients of an objective with respect to every edge),
 * differentiate the objective with respect to a soft mask (learned masks), and resume from a
 * cached prefix (ACDC). PatchingEngine (one batch), ChunkedEngine (rows in
 * chunks, `--batch-size`) and ParallelEngine (rows over worker threads, `--workers`) all are;
 * how rows are split is theirs alone. Results may be promises: always `await` them.
 */
export interface CircuitEvaluator {
  readonly layout: PatchLayout;
  skipDead: boolean;
  fullMask(): Float32Array;
  /** the most circuits one `run` should evaluate at once (memory: chunked.ts `circuitsThatFit`) */
  readonly maxCircuits: number;
  /** the clean model's logits at the metric positions [B, K, V], from a plain forward */
  cleanLogits(): MaybePromise<tf.Tensor3D>;
  /** logits [C, B, K, V]; `separately`: one forward per circuit (each skips the senders it does not read) */
  run(masks: Float32Array[], opts?: RunOptions): MaybePromise<tf.Tensor4D>;
  /** the sender deltas before `stage` for `mask`, to resume later runs from (`run(..., { from })`) */
  prefix(mask: Float32Array, stage: number): MaybePromise<{ dispose(): void }>;
  stageOfRow(r: number): number;
  /**
   * d objective / d probe for every edge, averaged over the steps `alphas` (1: EAP; k/m:
   * EAP-IG) of what `interpolate` says (default 'inputs'; attribution.ts): the mean over all
   * rows (each split's gradient weighted by its rows).
   */
  attribute(objective: Objective, alphas: number[], onChunk?: (done: number, total: number) => void, interpolate?: Interpolation): Promise<Attribution>;
  /**
   * d objective / d mask at `mask` ([R*S], entries in [0, 1]; learned-mask methods): one
   * forward and one backward of the edge-masked forward per split of the rows, one read each.
   */
  maskGradient(objective: Objective, mask: Float32Array): Promise<MaskGradient>;
  fullForwardFlops(): number;
  readonly stats: EngineStats;
  dispose(): void;
}

