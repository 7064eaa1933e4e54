/**
 * Discovery over a grid (`circuitscope sweep`): one circuit per ACDC threshold, or for EAP /
 * EAP-IG one scoring run and one circuit per |score| threshold or top-n (default: every size up
 * to 64 edges and a log grid beyond, as `rankingSizes`; each top-n is discover's connected
 * selection, src/graph/selection.ts: at least n edges on input-to-logits paths). Every circuit
 * is measured on the same prompts with the same ablation (the evaluator, batched), compared
 * with the reference circuit
 * when there is one (edge and node TPR / FPR, ACDC's pessimistic AUC), and the MIB curve gives
 * CPR and CMD: from the scores for scored methods, from the sweep's circuits otherwise (the
 * largest circuit within each size; see ./mib.ts).
 *
 * Measured once: every `discover` call hands back the metric evaluator it measured its circuit
 * with; the last one (for ACDC, that of the last threshold; the earlier ones are freed as soon
 * as their circuit is taken) measures all the sweep's circuits, on the same prompts, engine and
 * ablation, so the points, the full model and the empty circuit come from one evaluator (and
 * equal the discovered files' results: for scored methods m(M) is that of discover's clean
 * reference, the plain forward, which the edge-masked full run matches to ~1e-6).
 */
import type { HookedTransformer } from '../model/transformer.js';
import { tokenizerFor, type Tokenizer } from '../model/tokenizer.js';
import { discover, ownOptions } from '../discovery/run.js';
import type { OwnMethodOptions } from '../discovery/types.js';
import type { AblationKind } from '../patching/ablation.js';
import { getMethod } from '../discovery/registry.js';
import type { MetricKind } from '../patching/objective.js';
import { pruneDangling, rankByScore, selectConnectedRanked, selectThreshold } from '../graph/selection.js';
import { circuitEdgeKeys, type CircuitFile } from '../graph/circuit-file.js';
import type { Task } from '../tasks/types.js';
import type { MetricEvaluator } from '../patching/metrics.js';
import { importanceSign, mibArea, mibAxis, mibCircuitsFromScores, mibCircuitsFromSweep, mibCounts, MIB_SIZES } from './mib.js';
import { align, mergeEmbed, type Reference } from './reference.js';
import { pessimisticAuc, referenceScorer, rocPoint } from './roc.js';
import { metricEvaluator, rankingSizes } from './evaluate.js';
import { fmtThreshold } from '../util/format.js';
import type { WorkerPool } from '../parallel/pool.js';

/** The method's own options (OwnMethodOptions: ACDC's --speculate/--candidates, EAP-IG's --steps, ...) pass through to each discovery. */
export interface SweepOptions extends OwnMethodOptions {
  method: string;
  /** ACDC thresholds, or |score| thresholds for scored methods */
  thresholds?: number[];
  /** scored methods: circuit sizes (top-n) */
  topN?: number[];
  ablation?: AblationKind;
  metric?: MetricKind;
  n?: number;
  seed?: number;
  splitEmbed?: boolean;
  /** prompts per chunk in discovery and evaluation (bounds memory) */
  batchSize?: number;
  /** worker threads for discovery and evaluation */
  pool?: WorkerPool;
  reference?: Reference | null;
  countDirect?: boolean;
  modelName: string;
  backend: string;
  tokenizer?: Tokenizer;
  onStep?: (done: number, total: number, note: string) => void;
}

export interface SweepPoint {
  threshold: number | null;
  topN: number | null;
  /** top-n points: how many of the ranking's best edges were taken to keep `edges` connected ones (>= topN) */
  taken?: number;
  /** edges in the circuit (after pruning) */
  edges: number;
  metric: number;
  faithfulness: number | null;
  kl: number;
  tpr: number | null;
  fpr: number | null;
  nodeTpr: number | null;
  nodeFpr: number | null;
  /** discovery seconds (scored methods: the one scoring run, on the first point) */
  seconds: number;
}

export interface SweepResult {
  format: 'circuitscope-sweep';
  version: 1;
  task: string;
  model: string;
  method: string;
  objective: string;
  metric: string;
  ablation: AblationKind;
  splitEmbed: boolean;
  n: number;
  seed: number;
  backend: string;
  edgesTotal: number;
  full: number;
  empty: number;
  reference: { name: string; edges: number; merged: boolean; countDirect: boolean } | null;
  points: SweepPoint[];
  auc: { edge: number; node: number } | null;
  /** MIB's curve (./mib.ts): per size the faithfulness, the edges kept and the x-axis (edge fraction, `mibAxis`) */
  mib: { from: 'scores' | 'sweep'; sizes: number[]; requested: number[]; signed: number[]; absolute: number[]; edgesSigned: number[]; edgesAbsolute: number[]; axisSigned: number[]; axisAbsolute: number[]; cpr: number; cmd: number } | null;
  /** the circuits of the points, as edge lists */
  circuits: string[][];
  seconds: number;
}

/** ACDC's default grid here: 10^linspace(-5, 0, 11) (ACDC's published sweeps use 21 to 31 points; docs/methods.md "ACDC"). */
export function defaultThresholds(): number[] {
  return Array.from({ length: 11 }, (_, i) => Number((10 ** (-5 + i * 0.5)).toPrecision(6)));
}

export async function sweep(model: HookedTransformer, task: Task, o: SweepOptions): Promise<SweepResult> {
  const t0 = performance.now();
  const method = getMethod(o.method);
  const n = o.n ?? 100, seed = o.seed ?? 0, ablation = o.ablation ?? 'resample', splitEmbed = o.splitEmbed ?? false;
  const tokenizer = o.tokenizer ?? tokenizerFor(model.cfg);
  const batch = task.build({ cfg: model.cfg, tokenizer }, { n, seed });
  const base = { ...ownOptions(o), method: o.method, metric: o.metric, ablation, n, seed, splitEmbed, batchSize: o.batchSize, pool: o.pool, modelName: o.modelName, backend: o.backend, tokenizer, batch };
  const circuits: Set<string>[] = [];
  const meta: { threshold: number | null; topN: number | null; taken?: number; seconds: number }[] = [];
  let scoredFile: CircuitFile | null = null;
  let objective = '';
  // the evaluator of the latest discovery (see the header)
  let last: MetricEvaluator | null = null;
  try {
    if (method.kind === 'prune') {
      const ts = o.thresholds ?? defaultThresholds();
      if (o.topN) throw new Error(`sweep: ${o.method} takes --thresholds, not --top-n`);
      for (const [i, t] of ts.entries()) {
        o.onStep?.(i, ts.length, `threshold ${fmtThreshold(t)}`);
        last?.dispose();
        last = null;
        const { file, evaluator } = await discover(model, task, { ...base, threshold: t });
        last = evaluator;
        objective = file.metric;
        circuits.push(circuitEdgeKeys(file));
        meta.push({ threshold: t, topN: null, seconds: file.results.seconds });
      }
    } else {
      o.onStep?.(0, 1, 'scoring');
      const { file, evaluator } = await discover(model, task, { ...base, topN: 0 });
      last = evaluator;
      scoredFile = file;
      objective = file.metric;
      const scores = new Map(file.edges.filter((e) => e.score !== null).map((e) => [`${e.from}->${e.to}`, e.score!]));
      const sel: { threshold: number | null; topN: number | null; taken?: number; c: Set<string> }[] = [];
      for (const t of o.thresholds ?? []) sel.push({ threshold: t, topN: null, c: pruneDangling(selectThreshold(scores, t)) });
      const sizes = o.topN ?? (o.thresholds ? [] : rankingSizes(file.edges.length));
      for (const s of selectConnectedRanked(rankByScore(scores), sizes)) sel.push({ threshold: null, topN: s.asked, taken: s.taken, c: s.edges });
      sel.forEach((s, i) => { circuits.push(s.c); meta.push({ threshold: s.threshold, topN: s.topN, ...(s.taken !== undefined ? { taken: s.taken } : {}), seconds: i === 0 ? file.results.seconds : 0 }); });
    }
    o.onStep?.(1, 1, 'evaluating');
    // no discovery ran (an empty threshold list): an evaluator of its own for the full and empty circuits
    last ??= await metricEvaluator(model, task, batch, { ablation, splitEmbed, seed, batchSize: o.batchSize, pool: o.pool });
  } catch (e) {
    last?.dispose();
    throw e;
  }
  const ev: MetricEvaluator = last;
  try {
    const ms = await ev.evaluate(circuits);
    let ref: SweepResult['reference'] = null;
    let score: ((c: Iterable<string>) => ReturnType<ReturnType<typeof referenceScorer>>) | null = null;
    let merged = false;
    if (o.reference) {
      const a = align([], ev.edges, splitEmbed, o.reference, model.cfg);
      merged = a.merged;
      ref = { name: o.reference.name, edges: a.reference.size, merged, countDirect: o.countDirect ?? false };
      score = referenceScorer(a.reference, a.universe, { countDirect: o.countDirect });
    }
    const rocs = circuits.map((c) => (score ? score(merged ? mergeEmbed(c) : c) : null));
    const points: SweepPoint[] = circuits.map((c, i) => ({
      threshold: meta[i].threshold, topN: meta[i].topN, ...(meta[i].taken !== undefined ? { taken: meta[i].taken } : {}), edges: c.size,
      metric: ms[i].metric, faithfulness: ev.normalise(ms[i].metric), kl: ms[i].kl,
      tpr: rocs[i]?.edges.tpr ?? null, fpr: rocs[i]?.edges.fpr ?? null, nodeTpr: rocs[i]?.nodes.tpr ?? null, nodeFpr: rocs[i]?.nodes.fpr ?? null,
      seconds: meta[i].seconds,
    }));
    const auc = o.reference ? {
      edge: pessimisticAuc(rocs.map((r) => rocPoint(r!.edges))),
      node: pessimisticAuc(rocs.map((r) => rocPoint(r!.nodes))),
    } : null;
    let mib: SweepResult['mib'] = null;
    if (ev.normalise(ev.full.metric) !== null) {
      let signedC: Set<string>[], absC: Set<string>[];
      if (scoredFile) {
        const sc = new Map(scoredFile.edges.map((e) => [`${e.from}->${e.to}`, e.score]));
        const sign = importanceSign(o.method);
        signedC = mibCircuitsFromScores(ev.edges, sc, { absolute: false, sign });
        absC = mibCircuitsFromScores(ev.edges, sc, { absolute: true, sign });
      } else {
        signedC = absC = mibCircuitsFromSweep(ev.edges, circuits);
      }
      const f = (await ev.metric([...signedC, ...absC])).map((x) => ev.normalise(x)!);
      const fs = f.slice(0, MIB_SIZES.length), fa = f.slice(MIB_SIZES.length);
      const edgesSigned = signedC.map((c) => c.size), edgesAbsolute = absC.map((c) => c.size);
      const axisSigned = mibAxis(edgesSigned, ev.edges.length), axisAbsolute = mibAxis(edgesAbsolute, ev.edges.length);
      mib = {
        from: scoredFile ? 'scores' : 'sweep', sizes: [...MIB_SIZES], requested: mibCounts(ev.edges.length),
        signed: fs, absolute: fa, edgesSigned, edgesAbsolute, axisSigned, axisAbsolute,
        cpr: mibArea(fs, axisSigned).cpr, cmd: mibArea(fa, axisAbsolute).cmd,
      };
    }
    return {
      format: 'circuitscope-sweep', version: 1,
      task: task.name, model: o.modelName, method: o.method, objective, metric: task.metricName, ablation, splitEmbed,
      n: batch.clean.length, seed, backend: o.backend, edgesTotal: ev.edges.length,
      full: ev.full.metric, empty: ev.empty.metric,
      reference: ref, points, auc, mib,
      circuits: circuits.map((c) => [...c].sort()),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    ev.dispose();
  }
}
