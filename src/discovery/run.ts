/**
 * The discovery pipeline behind `circuitscope discover`: build the task batch, ONE engine over it
 * and the objective, run the method, select and prune the circuit, and measure it with ONE
 * metric evaluator over the same engine (src/patching/metrics.ts: the task metric of the clean
 * model, of the empty circuit and of the circuit, normalised faithfulness, KL). The evaluator is
 * handed back alive, so the report measures with it too (measure once); the caller disposes it.
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import { tokenizerFor, type Tokenizer } from '../model/tokenizer.js';
import { ablationFor, type AblationKind } from '../patching/ablation.js';
import { layoutEdges } from '../graph/layout.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';
import { makeObjective, type MetricKind, type Objective } from '../patching/objective.js';
import { MetricEvaluator } from '../patching/metrics.js';
import { defaultSpeculate, getMethod, methods } from './registry.js';
import { pruneDangling, selectConnected, selectGreedy, selectThreshold, type ConnectedSelection } from '../graph/selection.js';
import type { CheckpointStore, DiscoveryResult, MethodOptions, OwnMethodOptions, Progress } from './types.js';
import type { CircuitFile } from '../graph/circuit-file.js';
import { circuitEvaluator } from '../parallel/engine.js';
import type { WorkerPool } from '../parallel/pool.js';

/** Every method's own option set in `src` (the CLI's arguments, sweep's options), to hand on. */
export function ownOptions(src: object): OwnMethodOptions {
  const out: Record<string, unknown> = {};
  for (const m of methods()) for (const o of m.options) { const v = (src as Record<string, unknown>)[o.key]; if (v !== undefined) out[o.key] = v; }
  return out as OwnMethodOptions;
}

export interface DiscoverOptions extends OwnMethodOptions {
  method: string;
  threshold?: number;
  topN?: number;
  greedy?: boolean;
  metric?: MetricKind;
  ablation?: AblationKind;
  n?: number;
  seed?: number;
  splitEmbed?: boolean;
  /** where a checkpointing method saves its progress after each step */
  checkpoint?: CheckpointStore;
  /** continue from the checkpoint */
  resume?: boolean;
  /** run the prompts in chunks of at most this many rows (memory); same result */
  batchSize?: number;
  modelName: string;
  backend: string;
  onProgress?: (p: Progress) => void;
  /** called as each stage starts: 'prompts', 'setup' (engine, clean run), 'method', 'evaluation' */
  onStage?: (stage: DiscoverStage) => void;
  tokenizer?: Tokenizer;
  /** a prebuilt batch (tests); otherwise task.build */
  batch?: TaskBatch;
  /** worker threads: the prompts are split between this thread and the pool's workers */
  pool?: WorkerPool;
}

export type DiscoverStage = 'prompts' | 'setup' | 'method' | 'evaluation';

/** The circuit file, the method's raw result, and the evaluator that measured it (the caller disposes it). */
export interface DiscoverOutput { file: CircuitFile; raw: DiscoveryResult; evaluator: MetricEvaluator }

export async function discover(model: HookedTransformer, task: Task, opts: DiscoverOptions): Promise<DiscoverOutput> {
  const t0 = performance.now();
  const method = getMethod(opts.method);
  const n = opts.n ?? 100, seed = opts.seed ?? 0;
  const tokenizer = opts.tokenizer ?? tokenizerFor(model.cfg);
  opts.onStage?.('prompts');
  const batch = opts.batch ?? task.build({ cfg: model.cfg, tokenizer }, { n, seed });
  validateBatch(task.name, batch, model.cfg);
  const ablationKind = opts.ablation ?? 'resample';
  const metric = opts.metric ?? method.defaultMetric;
  const threshold = opts.threshold ?? method.defaultThreshold;
  const scoring = method.kind === 'score';
  opts.onStage?.('setup');
  // Attribution streams chunks (memory of one chunk, whatever the batch); pruning keeps every
  // chunk's engine for layer-resumed evaluation. With a worker pool each thread runs its share.
  const ablation = ablationFor(ablationKind, batch);
  const engineOpts = { splitEmbed: opts.splitEmbed ?? false, positions: batch.positions, batchSize: opts.batchSize, pool: opts.pool };
  const backward = method.trainsMask ? 'mask' : scoring ? 'attribution' : 'none';
  const engine = circuitEvaluator(model, batch.clean, ablation, { ...engineOpts, attribution: scoring, streaming: method.attributionOnly === true, backward });
  // ACDC over candidates scores on an engine of its own, streaming, freed before the pruning
  const scoringEngine = opts.candidates !== undefined ? () => circuitEvaluator(model, batch.clean, ablation, { ...engineOpts, attribution: true, streaming: true, backward: 'attribution' }) : undefined;
  let evaluator: MetricEvaluator | null = null;
  let engineOwned = true; // until the evaluator takes it
  let cleanLogits: tf.Tensor3D | null = null;
  let objective: Objective | null = null;
  try {
    // The clean reference: pruning methods compare circuits with the full circuit's own run (so
    // its KL is exactly 0); attribution takes the plain forward's logits (the same to ~1e-6, and
    // several times cheaper than the edge-masked full run).
    if (scoring) cleanLogits = await engine.cleanLogits();
    else {
      const full = await engine.run([engine.fullMask()]);
      cleanLogits = tf.tidy(() => tf.squeeze(full, [0]) as tf.Tensor3D);
      full.dispose();
    }
    objective = makeObjective(metric, task, batch, cleanLogits);
    // the method's own options, as the registry declares them (one generic hand-over)
    const own: Record<string, unknown> = {};
    for (const o of method.options) if (opts[o.key] !== undefined) own[o.key] = opts[o.key];
    const { speculate: _same, ...keyed } = own; // speculation changes the speed, not the result
    const checkpointKey = JSON.stringify({ model: opts.modelName, task: task.name, method: opts.method, metric, ablation: ablationKind, n, seed, threshold: threshold ?? null, split: opts.splitEmbed ?? false, processing: model.processing, own: keyed });
    const methodOpts: MethodOptions = {
      ...own, threshold, topN: opts.topN, seed, checkpointKey,
      ...(method.options.some((o) => o.key === 'speculate') ? { speculate: opts.speculate ?? defaultSpeculate(opts.backend) } : {}),
      ...(method.checkpoints ? { checkpoint: opts.checkpoint, resumeFrom: opts.resume ? opts.checkpoint : undefined } : {}),
    };
    const tm = performance.now();
    opts.onStage?.('method');
    const raw = await method.run({ engine, objective, onProgress: opts.onProgress, scoringEngine }, methodOpts);
    const methodSeconds = (performance.now() - tm) / 1000;
    // the selection as it ran (defaults filled in), recorded in the file
    // top-n: the connected selection (the ranking's prefix grows until its pruned circuit has
    // topN edges; `connected` says how many it took); otherwise pick, then prune
    let chosen: Set<string> | null = null, connected: ConnectedSelection | null = null;
    let topN: number | null = null, usedThreshold: number | null = null;
    if (method.kind === 'prune') { chosen = raw.circuit; usedThreshold = threshold ?? null; }
    else if (opts.greedy) chosen = selectGreedy(raw.scores, (topN = opts.topN ?? defaultTopN(raw.scores.size)));
    else if (opts.topN === undefined && threshold !== undefined) chosen = selectThreshold(raw.scores, (usedThreshold = threshold));
    else connected = selectConnected(raw.scores, (topN = opts.topN ?? defaultTopN(raw.scores.size)));
    const circuit = connected ? connected.edges : pruneDangling(chosen!);
    const picked = connected ? connected.taken : chosen!.size;

    // Measure: the full model (the clean reference at hand), the empty circuit, the circuit.
    opts.onStage?.('evaluation');
    engineOwned = false; // create() owns it now, and frees it if it fails
    evaluator = await MetricEvaluator.create(engine, model, task, batch, { ablation: ablationKind, seed, batchSize: opts.batchSize, clean: cleanLogits });
    const [measured] = await evaluator.evaluate([circuit]);
    const edges = layoutEdges(engine.layout).map((e) => {
      const i = e.indexOf('->');
      return { from: e.slice(0, i), to: e.slice(i + 2), score: raw.scores.get(e) ?? null, inCircuit: circuit.has(e) };
    });
    const cfg = model.cfg;
    const file: CircuitFile = {
      format: 'circuitscope-circuit', version: 1,
      model: opts.modelName,
      modelConfig: { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly },
      task: task.name, method: opts.method,
      threshold: usedThreshold, topN, ...(opts.greedy ? { greedy: true } : {}),
      metric: objective.name, ablation: ablationKind, splitEmbed: opts.splitEmbed ?? false,
      n: batch.clean.length, seed, backend: opts.backend, processing: [...model.processing],
      createdAt: new Date().toISOString(),
      nodes: [...new Set(edges.filter((e) => e.inCircuit).flatMap((e) => [e.from, e.to.replace(/<[qkv]>$/, '')]))],
      edges,
      results: {
        metric: task.metricName, clean: evaluator.full.metric, corrupted: evaluator.empty.metric, circuit: measured.metric,
        faithfulness: evaluator.normalise(measured.metric), klCircuit: measured.kl,
        edgesKept: circuit.size, edgesTotal: edges.length, danglingPruned: picked - circuit.size, ...(connected ? { selection: { asked: connected.asked, taken: connected.taken, kept: connected.kept } } : {}),
        seconds: (performance.now() - t0) / 1000, methodSeconds, ...(raw.attributionSeconds !== undefined ? { attributionSeconds: raw.attributionSeconds } : {}), ...(raw.candidates ? { candidates: raw.candidates } : {}), forwards: raw.forwards, backwards: raw.backwards,
      },
    };
    const out = { file, raw, evaluator };
    evaluator = null; // the caller's now
    return out;
  } finally {
    objective?.dispose();
    cleanLogits?.dispose();
    if (engineOwned) engine.dispose();
    evaluator?.dispose(); // only on an error: a returned evaluator is the caller's
  }
}

/** Default circuit size for score-based methods without --top-n/--threshold: 2% of edges, at least 10. */
function defaultTopN(total: number): number {
  return Math.min(total, Math.max(10, Math.round(total * 0.02)));
}
