/**
 * The task plugin interface (docs/tasks.md). A task builds clean/corrupted token batches
 * with the positions its metric reads and the answer tokens there, and defines its metric on
 * the logits at those positions. Metrics are "higher = the behaviour is there" (logit
 * difference, probability difference, accuracy); discovery negates them where it minimises.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { ReferenceCircuit } from './references.js';

export type { ReferenceCircuit } from './references.js';

export interface TaskBatch {
  clean: number[][];
  corrupt: number[][];
  /** positions read by the metric, per row (same count per row) */
  positions: number[][];
  /** correct token per row and position */
  answers: number[][];
  /** wrong tokens per row and position (logit difference against their max or first) */
  wrong: number[][][];
  /** free-form per-row data a task's metric may need */
  meta?: Record<string, unknown>;
}

export interface BuildContext {
  cfg: ModelConfig;
  tokenizer: Tokenizer;
}

/**
 * A named metric besides the task's primary one. `compute` gets the logits at the batch's
 * positions [B, K, V]; metrics comparing against the clean model (KL) also get the clean
 * model's logits there. `higherIsBetter` is false for distances such as KL.
 */
export interface TaskMetric {
  readonly name: string;
  readonly description: string;
  readonly higherIsBetter: boolean;
  readonly needsClean: boolean;
  compute(logits: tf.Tensor3D, batch: TaskBatch, cleanLogits?: tf.Tensor3D): tf.Scalar;
}

export interface Task {
  readonly name: string;
  readonly description: string;
  /** the model the literature uses (a preset, HF name or shared model) */
  readonly defaultModel: string;
  /** a model the project ships, used when the default is not available */
  readonly fallbackModel: string | null;
  build(ctx: BuildContext, opts: { n: number; seed: number }): TaskBatch;
  /** task metric from logits at the batch's positions [B, K, V] -> scalar (higher = behaviour present) */
  metric(logits: tf.Tensor3D, batch: TaskBatch): tf.Scalar;
  readonly metricName: string;
  /** further metrics (the primary one first, then e.g. KL, accuracy); optional */
  readonly metrics?: readonly TaskMetric[];
  /**
   * The hand-found circuit as an edge set over `buildLayout(ref.cfg, ref.splitEmbed)`, or null
   * when it cannot be loaded (the toy tasks read the shared models' files at call time). Optional:
   * tasks without a published circuit (induction, custom) leave it out.
   */
  loadReference?(): ReferenceCircuit | null;
}

/** Check the batch invariants every task must hold; errors name the task and the row. */
export function validateBatch(task: string, b: TaskBatch, cfg: ModelConfig): void {
  const n = b.clean.length;
  if (n === 0) throw new Error(`task ${task}: empty batch`);
  for (const [name, arr] of [['corrupt', b.corrupt], ['positions', b.positions], ['answers', b.answers], ['wrong', b.wrong]] as const) {
    if (arr.length !== n) throw new Error(`task ${task}: ${name} has ${arr.length} rows but clean has ${n}`);
  }
  const T = b.clean[0].length;
  b.clean.forEach((row, i) => {
    if (row.length !== T) throw new Error(`task ${task}: clean prompt ${i} has ${row.length} tokens, prompt 0 has ${T}; prompts of one batch must have equal token length`);
    if (b.corrupt[i].length !== row.length) throw new Error(`task ${task}: clean prompt ${i} has ${row.length} tokens but its corrupted prompt has ${b.corrupt[i].length}; they must tokenise to the same length`);
    if (row.length > cfg.nCtx) throw new Error(`task ${task}: prompt ${i} has ${row.length} tokens, more than the model's nCtx ${cfg.nCtx}`);
    const K = b.positions[0].length;
    if (b.positions[i].length !== K) throw new Error(`task ${task}: row ${i} has ${b.positions[i].length} metric positions, row 0 has ${K}`);
    for (const p of b.positions[i]) if (!Number.isInteger(p) || p < 0 || p >= row.length) throw new Error(`task ${task}: metric position ${p} of row ${i} does not exist (prompt has ${row.length} tokens)`);
    if (b.answers[i].length !== K) throw new Error(`task ${task}: row ${i} has ${b.answers[i].length} answers for ${K} positions`);
    for (const a of [...b.answers[i], ...b.wrong[i].flat()]) {
      if (!Number.isInteger(a) || a < 0 || a >= cfg.dVocabOut) throw new Error(`task ${task}: answer token ${a} of row ${i} is outside the output vocabulary [0, ${cfg.dVocabOut})`);
    }
    for (const t of [...row, ...b.corrupt[i]]) if (!Number.isInteger(t) || t < 0 || t >= cfg.dVocab) throw new Error(`task ${task}: token ${t} of row ${i} is outside the vocabulary [0, ${cfg.dVocab})`);
  });
}
