/**
 * Measure circuits with the edge-masked forward: the task metric, KL(clean || circuit) and the
 * task's further metrics (accuracy, ...) of any number of circuits, batched `chunk` circuits per
 * forward, with ONE device read per forward (all numbers of the forward's circuits stacked into
 * one [C, 2 + extras] tensor). Edges outside a circuit carry the engine's ablated value
 * (resample: the task's corrupted prompts; zero; mean). The clean reference is the full
 * circuit's own edge-masked run (so KL(clean || full) is 0), or the logits the caller already
 * holds (`clean`: discovery's reference, for attribution the plain forward's), which then also
 * stand for the full graph M.
 *
 * This is the one place a circuit's metrics and its normalised faithfulness are computed:
 * `discover`'s summary and results, the report, `evaluate`, `sweep` and the criteria all read
 * them from here (`normalise` is the one faithfulness formula). Results are memoised per edge
 * set for the evaluator's life (completeness and minimality revisit circuits).
 *
 * The evaluator owns the engine it is given: `dispose()` frees it (and so does a failed
 * `create`).
 */
import { yieldToEventLoop } from '../util/yield.js';
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import { layoutEdges, maskFromEdges, type PatchLayout } from '../graph/layout.js';
import { klDivergence } from '../tasks/metrics.js';
import type { Task, TaskBatch, TaskMetric } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';
import type { AblationKind } from './ablation.js';
import type { CircuitEvaluator } from './evaluator.js';

export interface CircuitMetrics {
  /** the task's primary metric (higher = behaviour present) */
  metric: number;
  /** KL(clean || circuit) at the metric positions */
  kl: number;
  /** the task's further metrics by name (not the primary one, not KL) */
  extras: Record<string, number>;
}

export interface MetricEvaluatorOptions {
  /** the ablation the engine was built with (recorded in results) */
  ablation: AblationKind;
  /** circuits per batched forward (default: from the activation size, 1 to 64) */
  chunk?: number;
  /** the seed the batch was built from, for reports */
  seed?: number;
  /** the engine's rows per chunk, when it runs the prompts in chunks (sizes the default `chunk`) */
  batchSize?: number;
  /**
   * The clean reference logits [B, K, V] when the caller has them (discovery: the full circuit's
   * run, or the plain forward's); the full graph is then measured on them instead of a run.
   */
  clean?: tf.Tensor3D;
}

/** Below this spread, m(M) and m(empty) count as equal and normalised values are null. */
const degenerate = (d: number, scale: number) => Math.abs(d) < 1e-9 * Math.max(1, Math.abs(scale));

export class MetricEvaluator {
  readonly layout: PatchLayout;
  /** every edge of the graph, receiver-major */
  readonly edges: readonly string[];
  readonly chunk: number;
  readonly ablation: AblationKind;
  readonly seed: number | null;
  /** circuits actually run (memo hits excluded) */
  runs = 0;
  /** the full graph M and the empty circuit (set by `create`) */
  full!: CircuitMetrics;
  empty!: CircuitMetrics;
  private clean: tf.Tensor3D | null = null;
  private disposed = false;
  private readonly extraMetrics: readonly TaskMetric[];
  private readonly memo = new Map<string, CircuitMetrics>();

  private constructor(readonly engine: CircuitEvaluator, readonly model: HookedTransformer, readonly task: Task, readonly batch: TaskBatch, opts: MetricEvaluatorOptions) {
    this.ablation = opts.ablation;
    this.seed = opts.seed ?? null;
    this.layout = engine.layout;
    this.edges = layoutEdges(this.layout);
    const cfg = model.cfg;
    const N = batch.clean.length;
    const perCircuit = Math.min(N, opts.batchSize ?? N) * batch.clean[0].length * Math.max(3 * cfg.nHeads * cfg.dModel, cfg.attnOnly ? 0 : cfg.dMlp ?? 4 * cfg.dModel);
    this.chunk = opts.chunk ?? Math.max(1, Math.min(64, Math.floor(2e7 / perCircuit)));
    if (!(Number.isInteger(this.chunk) && this.chunk > 0)) throw new Error(`metrics: chunk must be a positive integer, got ${opts.chunk}`);
    this.extraMetrics = (task.metrics ?? []).filter((m) => m.name !== task.metricName && m.name !== 'kl');
  }

  /**
   * An evaluator over `engine` (built for `batch`: its clean prompts, ablation and positions),
   * which it now owns. Runs the full circuit once for the clean reference, then measures the
   * full graph and the empty circuit.
   */
  static async create(engine: CircuitEvaluator, model: HookedTransformer, task: Task, batch: TaskBatch, opts: MetricEvaluatorOptions): Promise<MetricEvaluator> {
    let ev: MetricEvaluator | null = null;
    try {
      validateBatch(task.name, batch, model.cfg);
      ev = new MetricEvaluator(engine, model, task, batch, opts);
      if (opts.clean) {
        ev.clean = tf.keep(opts.clean.clone());
        const full = tf.expandDims(opts.clean, 0) as tf.Tensor4D;
        try { [ev.full] = await ev.measure(full, [MetricEvaluator.key(ev.edges)]); } finally { full.dispose(); }
        [ev.empty] = await ev.evaluate([[]]);
      } else {
        const full = await engine.run([engine.fullMask()]);
        ev.clean = tf.tidy(() => tf.squeeze(full, [0]) as tf.Tensor3D);
        full.dispose();
        [ev.full, ev.empty] = await ev.evaluate([ev.edges, []]);
      }
      return ev;
    } catch (e) {
      if (ev) ev.dispose(); else engine.dispose();
      throw e;
    }
  }

  private static key(edges: Iterable<string>): string {
    return [...new Set(edges)].sort().join('|');
  }

  /** Metrics of each circuit (edge keys `sender->receiver`; unknown keys are an error). */
  async evaluate(circuits: readonly Iterable<string>[]): Promise<CircuitMetrics[]> {
    if (!this.clean) throw new Error('metrics: the evaluator is disposed');
    const keys = circuits.map((c) => MetricEvaluator.key(c));
    const todo = [...new Set(keys.filter((k) => !this.memo.has(k)))];
    for (let i = 0; i < todo.length; i += this.chunk) {
      const part = todo.slice(i, i + this.chunk);
      const masks = part.map((k) => maskFromEdges(this.layout, k === '' ? [] : k.split('|')));
      const logits = await this.engine.run(masks);
      try {
        await this.measure(logits, part);
      } finally {
        logits.dispose();
      }
      this.runs += part.length;
    }
    return keys.map((k) => this.memo.get(k)!);
  }

  /** Measure logits [C, B, K, V] of the circuits keyed `keys` (one read) and memoise them. */
  private async measure(logits: tf.Tensor4D, keys: string[]): Promise<CircuitMetrics[]> {
    const clean = this.clean!;
    const E = this.extraMetrics.length;
    // [C, 2 + E]: per circuit the task metric, KL(clean || circuit), the further metrics
    const stacked = tf.tidy(() => tf.stack(tf.unstack(logits).map((l) => {
      const l3 = l as tf.Tensor3D;
      const row = [this.task.metric(l3, this.batch), klDivergence(clean, l3), ...this.extraMetrics.map((m) => m.compute(l3, this.batch, clean))];
      return tf.stack(row.map((x) => tf.cast(x, 'float32')));
    })));
    let values: tf.TypedArray;
    try {
      values = await stacked.data();
      await yieldToEventLoop(); // timers, signals and messages get their turn between batches
    } finally {
      stacked.dispose();
    }
    return keys.map((k, j) => {
      const at = (c: number) => values[j * (2 + E) + c];
      const metric = at(0);
      if (!Number.isFinite(metric)) throw new Error(`metrics: the ${this.task.metricName} metric of a ${k === '' ? 0 : k.split('|').length}-edge circuit is ${metric} (NaN or infinite logits?)`);
      const extras: Record<string, number> = {};
      this.extraMetrics.forEach((m, e) => { extras[m.name] = at(2 + e); });
      const r = { metric, kl: at(1), extras };
      this.memo.set(k, r);
      return r;
    });
  }

  /** The primary task metric of each circuit. */
  async metric(circuits: readonly Iterable<string>[]): Promise<number[]> {
    return (await this.evaluate(circuits)).map((m) => m.metric);
  }

  /**
   * Normalised faithfulness (m(C) - m(empty)) / (m(M) - m(empty)) of a value of the primary
   * metric, or of the further metric `extra`; null when the model and the empty circuit agree.
   */
  normalise(m: number, extra?: string): number | null {
    const [f, e] = this.pair(extra);
    return degenerate(f - e, f) ? null : (m - e) / (f - e);
  }

  /** A metric difference as a fraction of |m(M) - m(empty)| (completeness, minimality); null when they agree. */
  relative(delta: number): number | null {
    const [f, e] = this.pair();
    return degenerate(f - e, f) ? null : delta / Math.abs(f - e);
  }

  private pair(extra?: string): [number, number] {
    if (extra === undefined) return [this.full.metric, this.empty.metric];
    if (!(extra in this.full.extras)) throw new Error(`metrics: task '${this.task.name}' has no further metric '${extra}' (${Object.keys(this.full.extras).join(', ') || 'none'})`);
    return [this.full.extras[extra], this.empty.extras[extra]];
  }

  /** Frees the clean reference and the engine. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clean?.dispose();
    this.clean = null;
    this.engine.dispose();
    this.memo.clear();
  }
}
