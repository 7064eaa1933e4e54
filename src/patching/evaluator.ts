/**
 * The engine interface that discovery methods and evaluators see (docs/methods.md),
 * implemented by PatchingEngine (./engine.ts), ChunkedEngine (./chunked.ts) and
 * ParallelEngine (src/parallel/engine.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import type { PatchLayout } from '../graph/layout.js';
import type { Objective } from './objective.js';

/** FLOPs spent, counted per batch row of each circuit. */
export interface EngineStats { runs: number; circuits: number; flops: number }

export type MaybePromise<T> = T | Promise<T>;

export interface RunOptions { from?: { dispose(): void }; separately?: boolean }

/** Row-weighted d metric / d probe over a batch ([R*S], receiver-major), and the seconds spent. */
export interface Attribution { grad: Float64Array; seconds: number }

/**
 * The one interface discovery and evaluation see: evaluate circuits (`run`, masks -> logits at
 * the metric positions), attribute (gradients of an objective with respect to every edge), and
 * resume from a cached prefix (ACDC). PatchingEngine (one batch), ChunkedEngine (rows in
 * chunks, `--batch-size`) and ParallelEngine (rows over worker threads, `--workers`) all are;
 * how rows are split is theirs alone. Results may be promises: always `await` them.
 */
export interface CircuitEvaluator {
  readonly layout: PatchLayout;
  skipDead: boolean;
  fullMask(): Float32Array;
  /** the clean model's logits at the metric positions [B, K, V], from a plain forward */
  cleanLogits(): MaybePromise<tf.Tensor3D>;
  /** logits [C, B, K, V]; `separately`: one forward per circuit (each skips the senders it does not read) */
  run(masks: Float32Array[], opts?: RunOptions): MaybePromise<tf.Tensor4D>;
  /** the sender deltas before `stage` for `mask`, to resume later runs from (`run(..., { from })`) */
  prefix(mask: Float32Array, stage: number): MaybePromise<{ dispose(): void }>;
  stageOfRow(r: number): number;
  /**
   * d objective / d probe for every edge, averaged over the steps `alphas` (1: EAP; k/m:
   * EAP-IG): the mean over all rows (each split's gradient weighted by its rows).
   */
  attribute(objective: Objective, alphas: number[], onChunk?: (done: number, total: number) => void): Promise<Attribution>;
  fullForwardFlops(): number;
  readonly stats: EngineStats;
  dispose(): void;
}

