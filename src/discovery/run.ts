/**
 * The discovery pipeline behind `circuitscope discover`: build the task batch, set up the
 * patching engine and the objective, run the method, select and prune the circuit, and
 * evaluate it with the edge-masked forward (task metric of the clean model, of the empty
 * circuit and of the circuit; normalised faithfulness; KL). Returns a circuit file.
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import { tokenizerFor, type Tokenizer } from '../model/tokenizer.js';
import type { PatchingEngine } from '../patching/engine.js';
import { ablationFor, type AblationKind } from '../patching/ablation.js';
import { ChunkedEngine } from '../patching/chunked.js';
import { layoutEdges, maskFromEdges } from '../graph/layout.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';
import { klDivergence } from '../tasks/metrics.js';
import { makeObjective, type MetricKind } from '../patching/objective.js';
import { getMethod } from './registry.js';
import { pruneDangling, selectGreedy, selectThreshold, selectTopN } from '../graph/selection.js';
import type { DiscoveryResult, Progress } from './types.js';
import type { CircuitFile } from '../graph/circuit-file.js';
import { circuitEvaluator, ParallelEngine } from '../parallel/engine.js';
import type { WorkerPool } from '../parallel/pool.js';
import type { Objective } from '../patching/objective.js';

export interface DiscoverOptions {
  method: string;
  threshold?: number;
  topN?: number;
  greedy?: boolean;
  absValue?: boolean;
  metric?: MetricKind;
  ablation?: AblationKind;
  n?: number;
  seed?: number;
  splitEmbed?: boolean;
  speculate?: number;
  steps?: number;
  checkpoint?: string;
  resume?: boolean;
  /** run the prompts in chunks of at most this many rows (memory); same result */
  batchSize?: number;
  modelName: string;
  backend: string;
  onProgress?: (p: Progress) => void;
  tokenizer?: Tokenizer;
  /** a prebuilt batch (tests); otherwise task.build */
  batch?: TaskBatch;
  /** worker threads: the prompts are split between this thread and the pool's workers */
  pool?: WorkerPool;
}

export interface DiscoverOutput { file: CircuitFile; raw: DiscoveryResult }

export function discover(model: HookedTransformer, task: Task, opts: DiscoverOptions): DiscoverOutput {
  const t0 = performance.now();
  const method = getMethod(opts.method);
  const n = opts.n ?? 100, seed = opts.seed ?? 0;
  const tokenizer = opts.tokenizer ?? tokenizerFor(model.cfg);
  const batch = opts.batch ?? task.build({ cfg: model.cfg, tokenizer }, { n, seed });
  validateBatch(task.name, batch, model.cfg);
  const ablationKind = opts.ablation ?? 'resample';
  const metric = opts.metric ?? method.defaultMetric;
  const N = batch.clean.length;
  const scoring = method.kind === 'score';
  const engineOpts = { splitEmbed: opts.splitEmbed ?? false, positions: batch.positions, attribution: scoring };
  // Chunked attribution streams: one chunk's engine at a time (memory of one chunk, whatever the
  // batch); pruning keeps every chunk's engine for layer-resumed evaluation. With a worker pool
  // each thread runs its share of the rows.
  const engine = circuitEvaluator(model, batch.clean, ablationFor(ablationKind, batch), { ...engineOpts, batchSize: opts.batchSize, streaming: scoring, pool: opts.pool });
  // The clean reference: pruning methods compare circuits with the full circuit's own run (so
  // its KL is exactly 0); attribution takes the plain forward's logits (the same to ~1e-6, and
  // several times cheaper than the edge-masked full run).
  const cleanLogits = scoring
    ? engine.cleanLogits()
    : tf.tidy(() => tf.squeeze(engine.run([engine.fullMask()]), [0])) as tf.Tensor3D;
  const objective = makeObjective(metric, task, batch, cleanLogits);
  // Attribution differentiates chunk by chunk (this thread's rows), each with its own rows' objective.
  const local = engine instanceof ParallelEngine ? engine.local : engine instanceof ChunkedEngine ? engine : null;
  const chunks = local ? chunkObjectives(local, metric, task, batch, cleanLogits, N) : undefined;
  const chunkCount = local ? local.offsets.length : 1;
  const remoteAttribution = engine instanceof ParallelEngine
    ? (alphas: number[]) => engine.startAttribution(metric, alphas, batch, cleanLogits, sliceBatch)
    : undefined;
  try {
    const checkpointKey = JSON.stringify({ model: opts.modelName, task: task.name, method: opts.method, metric, ablation: ablationKind, n, seed, threshold: opts.threshold ?? null, abs: opts.absValue ?? false, split: opts.splitEmbed ?? false, processing: model.processing });
    const tm = performance.now();
    const raw = method.run({ engine, objective, chunks, chunkCount, remoteAttribution, onProgress: opts.onProgress }, {
      threshold: opts.threshold, topN: opts.topN, absValue: opts.absValue, speculate: opts.speculate, steps: opts.steps,
      checkpoint: opts.checkpoint, resumeFrom: opts.resume ? opts.checkpoint : undefined, checkpointKey,
    });
    const methodSeconds = (performance.now() - tm) / 1000;
    let chosen: Set<string>;
    if (method.kind === 'prune') chosen = raw.circuit;
    else if (opts.greedy) chosen = selectGreedy(raw.scores, opts.topN ?? defaultTopN(raw.scores.size));
    else if (opts.topN !== undefined) chosen = selectTopN(raw.scores, opts.topN);
    else if (opts.threshold !== undefined) chosen = selectThreshold(raw.scores, opts.threshold);
    else chosen = selectTopN(raw.scores, defaultTopN(raw.scores.size));
    const circuit = pruneDangling(chosen);

    // Evaluate: full model, empty circuit, the circuit.
    const lay = engine.layout;
    // The full circuit is the clean run (its logits are at hand); the empty circuit and the
    // circuit run one after the other on each chunk's engine.
    const logits = tf.tidy(() => tf.concat([
      tf.expandDims(cleanLogits, 0),
      engine.run([new Float32Array(engine.fullMask().length), maskFromEdges(lay, circuit)], { separately: true }),
    ]) as tf.Tensor4D);
    const [clean, corrupted, circ] = objective.taskMetric(logits);
    const klCircuit = tf.tidy(() => klDivergence(cleanLogits, tf.squeeze(tf.slice(logits, [2], [1]), [0])).dataSync()[0]);
    logits.dispose();
    const denom = clean - corrupted;
    const faithfulness = Math.abs(denom) < 1e-9 ? null : (circ - corrupted) / denom;
    const edges = layoutEdges(lay).map((e) => {
      const i = e.indexOf('->');
      return { from: e.slice(0, i), to: e.slice(i + 2), score: raw.scores.get(e) ?? null, inCircuit: circuit.has(e) };
    });
    const cfg = model.cfg;
    const file: CircuitFile = {
      format: 'circuitscope-circuit', version: 1,
      model: opts.modelName,
      modelConfig: { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly },
      task: task.name, method: opts.method,
      threshold: opts.threshold ?? null, topN: opts.topN ?? null,
      metric: objective.name, ablation: ablationKind, splitEmbed: opts.splitEmbed ?? false,
      n: batch.clean.length, seed, backend: opts.backend, processing: [...model.processing],
      createdAt: new Date().toISOString(),
      nodes: [...new Set(edges.filter((e) => e.inCircuit).flatMap((e) => [e.from, e.to.replace(/<[qkv]>$/, '')]))],
      edges,
      results: {
        metric: task.metricName, clean, corrupted, circuit: circ, faithfulness, klCircuit,
        edgesKept: circuit.size, edgesTotal: edges.length,
        seconds: (performance.now() - t0) / 1000, methodSeconds, ...(raw.attributionSeconds !== undefined ? { attributionSeconds: raw.attributionSeconds } : {}), forwards: raw.forwards, backwards: raw.backwards,
      },
    };
    return { file, raw };
  } finally {
    chunks?.return(undefined);
    objective.dispose();
    engine.dispose();
    cleanLogits.dispose();
  }
}

/**
 * The chunks of a chunked engine (rows 0.. of `batch` and `cleanLogits`), each built for
 * attribution with the objective of its rows and the weight rows / `total`.
 */
export function* chunkObjectives(engine: ChunkedEngine, metric: MetricKind, task: Pick<Task, 'metric' | 'metricName'>, batch: TaskBatch, cleanLogits: tf.Tensor3D, total: number): Generator<{ engine: PatchingEngine; objective: Objective; weight: number }> {
  let i = 0;
  for (const e of engine.each({ attribution: true })) {
    const [s, rows] = [engine.offsets[i], engine.sizes[i]];
    const cl = tf.slice(cleanLogits, [s, 0, 0], [rows, -1, -1]);
    const obj = makeObjective(metric, task, sliceBatch(batch, s, s + rows), cl);
    cl.dispose();
    try {
      yield { engine: e, objective: obj, weight: rows / total };
    } finally {
      obj.dispose();
    }
    i++;
  }
}

/** Rows [s, e) of a batch (per-row arrays in `meta` are sliced too). */
export function sliceBatch(b: TaskBatch, s: number, e: number): TaskBatch {
  const n = b.clean.length;
  const meta = b.meta ? Object.fromEntries(Object.entries(b.meta).map(([k, v]) => [k, Array.isArray(v) && v.length === n ? v.slice(s, e) : v])) : undefined;
  return { clean: b.clean.slice(s, e), corrupt: b.corrupt.slice(s, e), positions: b.positions.slice(s, e), answers: b.answers.slice(s, e), wrong: b.wrong.slice(s, e), ...(meta ? { meta } : {}) };
}

/** Default circuit size for score-based methods without --top-n/--threshold: 2% of edges, at least 10. */
function defaultTopN(total: number): number {
  return Math.min(total, Math.max(10, Math.round(total * 0.02)));
}
