/**
 * Measure circuits with the edge-masked forward (src/patching/engine.ts): the task metric, KL(clean
 * || circuit) and the task's further metrics (accuracy, ...) of any number of circuits, batched
 * `chunk` circuits per forward. Edges outside a circuit carry the ablated value (resample: the
 * task's corrupted prompts; zero; mean: the per-position mean over the corrupted prompts, the
 * task's reference distribution). Results are memoised per edge set for the evaluator's life
 * (completeness and minimality revisit circuits); `dispose()` frees the engine.
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import type { CircuitEvaluator } from '../patching/chunked.js';
import { layoutEdges, maskFromEdges, type PatchLayout } from '../graph/layout.js';
import { ablationFor, type AblationKind } from '../patching/ablation.js';
import { makeObjective, type Objective } from '../patching/objective.js';
import { klDivergence } from '../tasks/metrics.js';
import type { Task, TaskBatch, TaskMetric } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';
import { circuitEvaluator } from '../parallel/engine.js';
import type { WorkerPool } from '../parallel/pool.js';

export interface CircuitMetrics {
  /** the task's primary metric (higher = behaviour present) */
  metric: number;
  /** KL(clean || circuit) at the metric positions */
  kl: number;
  /** the task's further metrics by name (not the primary one, not KL) */
  extras: Record<string, number>;
}

export interface EvaluatorOptions {
  ablation: AblationKind;
  splitEmbed: boolean;
  /** circuits per batched forward (default: from the activation size, 1 to 64) */
  chunk?: number;
  /** the seed the batch was built from, for reports */
  seed?: number;
  /** run the prompts in chunks of this many rows (bounds memory; same numbers) */
  batchSize?: number;
  /** worker threads: the prompts are split between this thread and the pool's workers */
  pool?: WorkerPool;
}

export class MetricEvaluator {
  readonly engine: CircuitEvaluator;
  readonly layout: PatchLayout;
  /** every edge of the graph, receiver-major */
  readonly edges: readonly string[];
  readonly full: CircuitMetrics;
  readonly empty: CircuitMetrics;
  readonly chunk: number;
  readonly ablation: AblationKind;
  readonly seed: number | null;
  /** circuits actually run (memo hits excluded) */
  runs = 0;
  private readonly clean: tf.Tensor3D;
  private readonly objective: Objective;
  private readonly extraMetrics: readonly TaskMetric[];
  private readonly memo = new Map<string, CircuitMetrics>();

  constructor(readonly model: HookedTransformer, readonly task: Task, readonly batch: TaskBatch, opts: EvaluatorOptions) {
    validateBatch(task.name, batch, model.cfg);
    this.ablation = opts.ablation;
    this.seed = opts.seed ?? null;
    const N = batch.clean.length;
    const engineOpts = { splitEmbed: opts.splitEmbed, positions: batch.positions };
    this.engine = circuitEvaluator(model, batch.clean, ablationFor(opts.ablation, batch), { ...engineOpts, batchSize: opts.batchSize, pool: opts.pool });
    try {
      this.layout = this.engine.layout;
      this.edges = layoutEdges(this.layout);
      const cfg = model.cfg;
      const perCircuit = Math.min(N, opts.batchSize ?? N) * batch.clean[0].length * Math.max(3 * cfg.nHeads * cfg.dModel, cfg.attnOnly ? 0 : cfg.dMlp ?? 4 * cfg.dModel);
      this.chunk = opts.chunk ?? Math.max(1, Math.min(64, Math.floor(2e7 / perCircuit)));
      if (!(Number.isInteger(this.chunk) && this.chunk > 0)) throw new Error(`eval: chunk must be a positive integer, got ${opts.chunk}`);
      this.clean = tf.tidy(() => tf.squeeze(this.engine.run([this.engine.fullMask()]), [0])) as tf.Tensor3D;
      this.objective = makeObjective('task', task, batch, this.clean);
      this.extraMetrics = (task.metrics ?? []).filter((m) => m.name !== task.metricName && m.name !== 'kl');
      [this.full, this.empty] = this.evaluate([this.edges, []]);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private static key(edges: Iterable<string>): string {
    return [...new Set(edges)].sort().join('|');
  }

  /** Metrics of each circuit (edge keys `sender->receiver`; unknown keys are an error). */
  evaluate(circuits: readonly Iterable<string>[]): CircuitMetrics[] {
    const keys = circuits.map((c) => MetricEvaluator.key(c));
    const todo = [...new Set(keys.filter((k) => !this.memo.has(k)))];
    for (let i = 0; i < todo.length; i += this.chunk) {
      const part = todo.slice(i, i + this.chunk);
      const masks = part.map((k) => maskFromEdges(this.layout, k === '' ? [] : k.split('|')));
      const logits = this.engine.run(masks);
      try {
        const metric = this.objective.taskMetric(logits);
        const rest = tf.tidy(() => tf.unstack(logits).map((l) => {
          const l3 = l as tf.Tensor3D;
          const extras: Record<string, number> = {};
          for (const m of this.extraMetrics) extras[m.name] = m.compute(l3, this.batch, this.clean).dataSync()[0];
          return { kl: klDivergence(this.clean, l3).dataSync()[0], extras };
        }));
        part.forEach((k, j) => this.memo.set(k, { metric: metric[j], kl: rest[j].kl, extras: rest[j].extras }));
        this.runs += part.length;
      } finally {
        logits.dispose();
      }
    }
    return keys.map((k) => this.memo.get(k)!);
  }

  /** The primary task metric of each circuit. */
  metric(circuits: readonly Iterable<string>[]): number[] {
    return this.evaluate(circuits).map((m) => m.metric);
  }

  /** (m(C) - m(empty)) / (m(M) - m(empty)), null when the model and the empty circuit agree. */
  normalise(m: number): number | null {
    const d = this.full.metric - this.empty.metric;
    return Math.abs(d) < 1e-9 * Math.max(1, Math.abs(this.full.metric)) ? null : (m - this.empty.metric) / d;
  }

  dispose(): void {
    this.clean?.dispose();
    this.objective?.dispose();
    this.engine?.dispose();
    this.memo.clear();
  }
}
