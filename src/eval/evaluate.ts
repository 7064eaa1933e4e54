/**
 * Everything `circuitscope evaluate` measures about one circuit: the IOI paper's faithfulness,
 * completeness and minimality (./criteria.ts), MIB's faithfulness curve with CPR and CMD when the
 * circuit's edges carry scores (./mib.ts), and, against a reference circuit, edge- and
 * node-level TPR / FPR / precision, the ROC of the score ranking with ACDC's pessimistic AUC
 * (./roc.ts) and the overlay of both edge sets. The model is needed for the metric parts only;
 * `referenceReport` works from the files alone.
 */
import type { HookedTransformer } from '../model/transformer.js';
import { tokenizerFor, type Tokenizer } from '../model/tokenizer.js';
import { selectConnectedRanked } from '../graph/selection.js';
import { ablationFor, type AblationKind } from '../patching/ablation.js';
import { MetricEvaluator } from '../patching/metrics.js';
import type { CircuitFile } from '../graph/circuit-file.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';
import { circuitEvaluator } from '../parallel/engine.js';
import { completeness, faithfulness, minimality, type CompletenessResult, type FaithfulnessResult, type MinimalityResult, type NodeMinimality, type SearchOptions } from './criteria.js';
import { importanceSign, mibArea, mibAxis, mibCircuitsFromScores, mibCounts, MIB_SIZES, rankEdges } from './mib.js';
import { align, fileEdges, mergeEmbed, type ModelShape, type Reference } from './reference.js';
import { pessimisticAuc, referenceScorer, rocPoint, type CircuitVsReference, type RocPoint } from './roc.js';
import type { WorkerPool } from '../parallel/pool.js';
import { fmtNum, fmtRatio, KL_ZERO } from '../util/format.js';

/** What a circuit file must provide (an EAP-IG / MIB graph gives edges only; the CLI fills the rest). */
export type CircuitInput = Pick<CircuitFile, 'edges' | 'method' | 'task' | 'model' | 'ablation' | 'splitEmbed' | 'n' | 'seed'> & { modelConfig?: ModelShape };

export interface FaithCurve {
  /** how edges were ranked: by the method's scores (signed for CPR, |score| for CMD) */
  ranking: string;
  /** edges with a score */
  scored: number;
  sizes: number[];
  /** floor(k N) edges requested; per ranking the edges kept (a connected selection, ./mib.ts) */
  requested: number[];
  /** `axis`: the curve's x, the edge fraction max(k, kept / N) (`mibAxis`) */
  signed: { edges: number[]; axis: number[]; faithfulness: number[] };
  absolute: { edges: number[]; axis: number[]; faithfulness: number[] };
  cpr: number;
  cmd: number;
}

export interface RankingRoc {
  /** circuit sizes of the ranking (connected top-n by |score|, src/graph/selection.ts) */
  sizes: number[];
  edge: RocPoint[];
  node: RocPoint[];
  aucEdge: number;
  aucNode: number;
}

export interface ReferenceReport {
  name: string;
  source: string;
  edges: number;
  /** the reference uses tok/pos and the circuit input (or the reverse): compared with tok/pos merged */
  merged: boolean;
  countDirect: boolean;
  vs: CircuitVsReference;
  /** pessimistic AUC of this circuit's single ROC point */
  single: { edge: number; node: number };
  /** ROC of the circuit's score ranking, when its edges are scored */
  ranking: RankingRoc | null;
  overlay: { both: string[]; foundOnly: string[]; referenceOnly: string[] };
}

export interface Evaluation {
  format: 'circuitscope-evaluation';
  version: 1;
  circuit: { task: string; model: string; method: string; ablation: string; splitEmbed: boolean; edges: number; edgesTotal: number; source?: string };
  /** the prompts the metrics ran on */
  batch: { n: number; seed: number };
  faithfulness: FaithfulnessResult | null;
  completeness: CompletenessResult | null;
  minimality: MinimalityResult | null;
  curve: FaithCurve | null;
  reference: ReferenceReport | null;
  circuitsRun: number;
  seconds: number;
}

export interface EvaluateOptions extends SearchOptions {
  reference?: Reference | null;
  /** add ACDC's q/k/v direct edges in the edge-level ROC */
  countDirect?: boolean;
  /** completeness and minimality (default true) */
  criteria?: boolean;
  /** the MIB faithfulness curve (default true; needs scores) */
  curve?: boolean;
  /** +1: higher scores are more important; -1: lower are (default: by method, see importanceSign) */
  scoreSign?: 1 | -1;
  source?: string;
  /** called as each part starts: 'faithfulness', 'completeness', 'minimality', 'curve' (CPR/CMD) */
  onStage?: (stage: string) => void;
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

/**
 * A metric evaluator (src/patching/metrics.ts) for a batch: the edge-masked engine as discovery
 * builds it (threads, chunks or one engine) and the evaluator over it, which owns it. The caller
 * disposes the evaluator.
 */
export async function metricEvaluator(model: HookedTransformer, task: Task, batch: TaskBatch, o: EvaluatorOptions): Promise<MetricEvaluator> {
  validateBatch(task.name, batch, model.cfg);
  const engine = circuitEvaluator(model, batch.clean, ablationFor(o.ablation, batch), { splitEmbed: o.splitEmbed, positions: batch.positions, batchSize: o.batchSize, pool: o.pool });
  return MetricEvaluator.create(engine, model, task, batch, { ablation: o.ablation, chunk: o.chunk, seed: o.seed, batchSize: o.batchSize });
}

/** The evaluator for a circuit file: its task's prompts (n, seed), ablation and embedding split. */
export async function evaluatorFor(model: HookedTransformer, task: Task, file: Pick<CircuitInput, 'n' | 'seed' | 'ablation' | 'splitEmbed'>, o: { n?: number; seed?: number; ablation?: AblationKind; tokenizer?: Tokenizer; batch?: TaskBatch; chunk?: number; batchSize?: number; pool?: WorkerPool } = {}): Promise<MetricEvaluator> {
  const ablation = (o.ablation ?? file.ablation) as AblationKind;
  if (!['resample', 'zero', 'mean'].includes(ablation)) throw new Error(`eval: unknown ablation '${ablation}' (resample, zero, mean)`);
  const seed = o.seed ?? file.seed;
  const batch = o.batch ?? task.build({ cfg: model.cfg, tokenizer: o.tokenizer ?? tokenizerFor(model.cfg) }, { n: o.n ?? file.n, seed });
  return metricEvaluator(model, task, batch, { ablation, splitEmbed: file.splitEmbed, chunk: o.chunk, seed, batchSize: o.batchSize, pool: o.pool });
}

/** Circuit sizes for a ranking ROC over n edges: every size up to 64, then ~40 log-spaced. */
export function rankingSizes(n: number): number[] {
  const s = new Set<number>();
  for (let i = 0; i <= Math.min(n, 64); i++) s.add(i);
  for (let i = 0; i <= 40; i++) s.add(Math.min(n, Math.round(n * 10 ** (-3 + (3 * i) / 40))));
  s.add(n);
  return [...s].sort((a, b) => a - b);
}

const hasScores = (scores: ReadonlyMap<string, number | null>) => [...scores.values()].filter((v) => v !== null && Number.isFinite(v)).length;

/** The reference part of an evaluation, from the files alone. */
export function referenceReport(file: Pick<CircuitInput, 'edges' | 'splitEmbed' | 'modelConfig'>, ref: Reference, o: { countDirect?: boolean } = {}): ReferenceReport {
  const { universe, kept, scores } = fileEdges(file);
  const a = align(kept, universe, file.splitEmbed, ref, file.modelConfig);
  const score = referenceScorer(a.reference, a.universe, o);
  const vs = score(a.found);
  const one = (c: CircuitVsReference['edges']) => pessimisticAuc([rocPoint(c)]);
  let ranking: RankingRoc | null = null;
  if (hasScores(scores) > 0) {
    const ranked = rankEdges(universe, scores, { absolute: true, sign: 1 });
    const sizes = rankingSizes(universe.length);
    const edge: RocPoint[] = [], node: RocPoint[] = [];
    // connected top-n, as discover's --top-n and sweep's sizes (src/graph/selection.ts)
    for (const [i, sel] of selectConnectedRanked(ranked, sizes).entries()) {
      const n = sizes[i], c = sel.edges;
      const r = score(a.merged ? mergeEmbed(c) : c);
      edge.push(rocPoint(r.edges, `top ${n}: ${c.size} edges`));
      node.push(rocPoint(r.nodes, `top ${n}: ${c.size} edges`));
    }
    ranking = { sizes, edge, node, aucEdge: pessimisticAuc(edge), aucNode: pessimisticAuc(node) };
  }
  return {
    name: ref.name, source: ref.source, edges: a.reference.size, merged: a.merged, countDirect: o.countDirect ?? false, vs,
    single: { edge: one(vs.edges), node: one(vs.nodes) },
    ranking,
    overlay: {
      both: [...a.found].filter((e) => a.reference.has(e)).sort(),
      foundOnly: [...a.found].filter((e) => !a.reference.has(e)).sort(),
      referenceOnly: [...a.reference].filter((e) => !a.found.has(e)).sort(),
    },
  };
}

/** MIB's curve from the circuit's scores, or null without scores (or when m(M) = m(empty)). */
export async function faithfulnessCurve(ev: MetricEvaluator, file: Pick<CircuitInput, 'edges' | 'method'>, scoreSign?: 1 | -1): Promise<FaithCurve | null> {
  const { scores } = fileEdges(file);
  const scored = hasScores(scores);
  if (scored === 0 || ev.normalise(ev.full.metric) === null) return null;
  // rank over the evaluator's graph (the file's edges must be the same graph)
  const sign = scoreSign ?? importanceSign(file.method);
  const signed = mibCircuitsFromScores(ev.edges, scores, { absolute: false, sign });
  const abs = mibCircuitsFromScores(ev.edges, scores, { absolute: true, sign });
  const m = await ev.metric([...signed, ...abs]);
  const f = m.map((x) => ev.normalise(x)!);
  const fs = f.slice(0, MIB_SIZES.length), fa = f.slice(MIB_SIZES.length);
  const xs = mibAxis(signed.map((c) => c.size), ev.edges.length), xa = mibAxis(abs.map((c) => c.size), ev.edges.length);
  return {
    ranking: `${file.method} scores${sign < 0 ? ' (negated: lower = more important)' : ''}${scored < ev.edges.length ? `; ${ev.edges.length - scored} unscored edges ranked last` : ''}`,
    scored, sizes: [...MIB_SIZES], requested: mibCounts(ev.edges.length),
    signed: { edges: signed.map((c) => c.size), axis: xs, faithfulness: fs },
    absolute: { edges: abs.map((c) => c.size), axis: xa, faithfulness: fa },
    cpr: mibArea(fs, xs).cpr, cmd: mibArea(fa, xa).cmd,
  };
}

/** Evaluate a circuit (see the header); `ev` fixes the prompts and the ablation. */
export async function evaluateCircuit(ev: MetricEvaluator, file: CircuitInput, o: EvaluateOptions = {}): Promise<Evaluation> {
  const t0 = performance.now();
  const { universe, kept } = fileEdges(file);
  const graph = new Set(ev.edges);
  for (const e of universe) if (!graph.has(e)) throw new Error(`eval: the circuit's edge '${e}' is not in the model's graph (${ev.edges.length} edges${file.splitEmbed ? ', tok/pos split' : ''}); wrong model or --split-embed?`);
  const runs0 = ev.runs;
  const criteria = o.criteria ?? true;
  // one after the other: the evaluator's engine runs one batch of circuits at a time
  const stage = <T>(name: string, f: () => Promise<T>) => { o.onStage?.(name); return f(); };
  const faith = await stage('faithfulness', () => faithfulness(ev, kept));
  const compl = criteria ? await stage('completeness', () => completeness(ev, kept, o)) : null;
  const minim = criteria ? await stage('minimality', () => minimality(ev, kept, o)) : null;
  const curve = o.curve === false ? null : await stage('curve', () => faithfulnessCurve(ev, file, o.scoreSign));
  return {
    format: 'circuitscope-evaluation', version: 1,
    circuit: { task: file.task, model: file.model, method: file.method, ablation: ev.ablation, splitEmbed: file.splitEmbed, edges: kept.size, edgesTotal: ev.edges.length, ...(o.source ? { source: o.source } : {}) },
    batch: { n: ev.batch.clean.length, seed: ev.seed ?? file.seed },
    faithfulness: faith,
    completeness: compl,
    minimality: minim,
    curve,
    reference: o.reference ? referenceReport(file, o.reference, o) : null,
    circuitsRun: ev.runs - runs0,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** F(C) / F(M) as reports print it: "n/a (base ≈ 0)" when F(M) is negligible next to |F(M) - F(empty)| (fmtRatio). */
export function faithRatio(fa: Pick<FaithfulnessResult, 'full' | 'empty' | 'circuit'>): string {
  return fmtRatio(fa.circuit, fa.full, Math.max(Math.abs(fa.full), Math.abs(fa.full - fa.empty)));
}

/** drop / |F(C)| (minimality's `relative`) as reports print it: "n/a (base ≈ 0)" when |F(C)| is negligible next to the metric's scale. */
export function minimalityRelative(min: Pick<MinimalityResult, 'circuit' | 'scale'>, node: Pick<NodeMinimality, 'drop' | 'relative'>, sig = 3): string {
  // evaluation files written before `circuit` / `scale` existed: the stored ratio as it is
  if (typeof min.circuit !== 'number' || typeof min.scale !== 'number') return fmtNum(node.relative, sig);
  return fmtRatio(node.drop, Math.abs(min.circuit), min.scale, sig);
}

/** Plain-text summary of an evaluation (what the CLI prints). */
export function evaluationText(e: Evaluation): string {
  const f = (x: number | null | undefined, sig = 4) => fmtNum(x, sig);
  const L: string[] = [];
  const c = e.circuit;
  L.push(`${c.method} circuit for ${c.task} on ${c.model}: ${c.edges} of ${c.edgesTotal} edges; ${c.ablation} ablation; ${e.batch.n} prompts (seed ${e.batch.seed})`);
  const fa = e.faithfulness;
  if (fa) {
    L.push(`faithfulness (${fa.metric}): F(M) ${f(fa.full)}, F(empty) ${f(fa.empty)}, F(C) ${f(fa.circuit)}; F(C)/F(M) ${faithRatio(fa)}; normalised ${f(fa.normalised)}; KL(clean||C) ${fmtNum(fa.kl, 4, KL_ZERO)}`);
    for (const x of fa.extras) L.push(`  ${x.name}: model ${f(x.full)}, empty ${f(x.empty)}, circuit ${f(x.circuit)} (normalised ${f(x.normalised)})`);
  }
  if (e.completeness) {
    const w = e.completeness.worst;
    L.push(`completeness: worst |F(C\\K) - F(M\\K)| = ${f(w.score)} (normalised ${f(e.completeness.worstNormalised)}) at K = {${w.removed.join(', ')}} (${w.kind}; ${e.completeness.candidates.length} subsets tried)`);
  }
  if (e.minimality) {
    const ms = e.minimality.nodes;
    if (ms.length === 0) L.push('minimality: the circuit has no heads or MLPs');
    else {
      L.push(`minimality (largest drop from removing v, given K; relative to |F(C)| and normalised):`);
      for (const m of ms) L.push(`  ${m.node.padEnd(8)} drop ${f(m.drop)}  relative ${minimalityRelative(e.minimality, m)}  normalised ${f(m.normalised, 3)}  K = {${m.removed.join(', ')}}`);
    }
  }
  if (e.curve) L.push(`MIB curve (${e.curve.ranking}): CPR ${f(e.curve.cpr)} (signed), CMD ${f(e.curve.cmd)} (|score|); f(k) = ${e.curve.signed.faithfulness.map((x) => f(x, 3)).join(' ')}`);
  const r = e.reference;
  if (r) {
    L.push(`reference ${r.name}: ${r.edges} edges${r.merged ? ' (tok/pos merged into input)' : ''}${r.countDirect ? ' (+ ACDC direct edges)' : ''}`);
    const cf = (x: CircuitVsReference['edges']) => `TP ${x.tp} FP ${x.fp} FN ${x.fn} TN ${x.tn}; TPR ${f(x.tpr, 3)} FPR ${f(x.fpr, 3)} precision ${f(x.precision, 3)}`;
    L.push(`  edges: ${cf(r.vs.edges)}; single-point AUC ${f(r.single.edge)}`);
    L.push(`  nodes: ${cf(r.vs.nodes)}; single-point AUC ${f(r.single.node)}`);
    if (r.ranking) L.push(`  ROC of the score ranking: edge AUC ${f(r.ranking.aucEdge)}, node AUC ${f(r.ranking.aucNode)}`);
    if (r.overlay.referenceOnly.length) L.push(`  missed: ${r.overlay.referenceOnly.join(', ')}`);
    if (r.overlay.foundOnly.length) L.push(`  extra: ${r.overlay.foundOnly.slice(0, 20).join(', ')}${r.overlay.foundOnly.length > 20 ? `, ... (${r.overlay.foundOnly.length})` : ''}`);
  }
  return L.join('\n');
}
