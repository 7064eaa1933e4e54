/**
 * The IOI paper's three criteria (Wang et al. 2023, §4; ../shared/reference/peers.md §4.6), on
 * the edge-level graph. F(X) is the task metric of the model in which every edge outside X
 * carries its ablated value (the evaluator's ablation; the paper mean-ablates over the ABC
 * distribution, `--ablation mean` here). M is the full graph, C the circuit, and removing a set
 * K of nodes (heads, MLPs) from X drops every edge of X out of or into a node of K, so those
 * nodes carry their ablated output everywhere.
 *
 * - Faithfulness: F(C) / F(M) (the paper's "87% of the logit difference") and the normalised
 *   form (F(C) - F(empty)) / (F(M) - F(empty)) (EAP-IG, MIB), plus KL(clean || C) and the task's
 *   further metrics.
 * - Completeness: for subsets K of C's nodes, |F(C \ K) - F(M \ K)|; a complete circuit keeps
 *   it small for every K. Candidates: K = empty, `samples` random subsets (each node with
 *   probability 1/2), and a greedy search that adds, `greedySteps` times, the node that
 *   maximises the score. The worst candidate is reported, also divided by |F(M) - F(empty)|.
 * - Minimality: for each node v of C, max over K (empty and the random subsets, without v) of
 *   |F(C \ (K + v)) - F(C \ K)|, relative to |F(C)| (the paper's percentages) and to
 *   |F(M) - F(empty)|; a minimal circuit has no node whose every such drop is small.
 */
import { receiverNode, splitEdge } from '../graph/selection.js';
import { Rng } from '../util/rng.js';
import type { MetricEvaluator } from './evaluator.js';

const isComponent = (n: string) => /^(a\d+\.h\d+|m\d+)$/.test(n);

/** The heads and MLPs a circuit's edges touch (not the embeddings, not the logits), in order. */
export function circuitComponents(edges: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const e of edges) {
    const [s, r] = splitEdge(e);
    for (const n of [s, receiverNode(r)]) if (isComponent(n)) out.add(n);
  }
  const rank = (n: string) => { const m = /^(a|m)(\d+)(?:\.h(\d+))?$/.exec(n)!; return Number(m[2]) * 1e6 + (m[1] === 'm' ? 5e5 : Number(m[3])); };
  return [...out].sort((a, b) => rank(a) - rank(b));
}

/** X \ K: drop every edge out of or into a node of K. */
export function removeNodes(edges: Iterable<string>, nodes: Iterable<string>): Set<string> {
  const k = new Set(nodes);
  const out = new Set<string>();
  for (const e of edges) {
    const [s, r] = splitEdge(e);
    if (!k.has(s) && !k.has(receiverNode(r))) out.add(e);
  }
  return out;
}

export interface MetricTriple { name: string; full: number; empty: number; circuit: number; normalised: number | null }

export interface FaithfulnessResult {
  metric: string;
  ablation: string;
  /** F(M), F(empty), F(C) */
  full: number;
  empty: number;
  circuit: number;
  /** F(C) / F(M); null when F(M) = 0 */
  ratio: number | null;
  /** (F(C) - F(empty)) / (F(M) - F(empty)); null when F(M) = F(empty) */
  normalised: number | null;
  /** KL(clean || C) */
  kl: number;
  edges: number;
  edgesTotal: number;
  /** the task's further metrics (accuracy, ...) on M, empty and C */
  extras: MetricTriple[];
}

export function faithfulness(ev: MetricEvaluator, circuit: Iterable<string>): FaithfulnessResult {
  const c = new Set(circuit);
  const [m] = ev.evaluate([c]);
  const { full, empty } = ev;
  const extras = Object.keys(full.extras).map((name) => {
    const d = full.extras[name] - empty.extras[name];
    return { name, full: full.extras[name], empty: empty.extras[name], circuit: m.extras[name], normalised: Math.abs(d) < 1e-12 ? null : (m.extras[name] - empty.extras[name]) / d };
  });
  return {
    metric: ev.task.metricName, ablation: ev.ablation,
    full: full.metric, empty: empty.metric, circuit: m.metric,
    ratio: full.metric === 0 ? null : m.metric / full.metric,
    normalised: ev.normalise(m.metric),
    kl: m.kl, edges: c.size, edgesTotal: ev.edges.length, extras,
  };
}

export interface SearchOptions {
  /** random subsets K (default 16) */
  samples?: number;
  /** greedy completeness steps (default 4) */
  greedySteps?: number;
  /** seed of the subset sampler (default 0) */
  seed?: number;
}

export interface SubsetScore {
  kind: 'empty' | 'random' | 'greedy';
  removed: string[];
  /** F(C \ K) and F(M \ K) */
  circuit: number;
  model: number;
  /** |F(C \ K) - F(M \ K)| */
  score: number;
}

export interface CompletenessResult {
  nodes: string[];
  worst: SubsetScore;
  /** worst.score / |F(M) - F(empty)| */
  worstNormalised: number | null;
  candidates: SubsetScore[];
}

function randomSubsets(nodes: readonly string[], samples: number, seed: number): string[][] {
  const rng = new Rng(seed);
  const seen = new Set<string>(['']);
  const out: string[][] = [];
  // at most 2^n - 1 distinct non-empty subsets; stop trying after a bounded number of draws
  for (let tries = 0; out.length < samples && tries < samples * 20; tries++) {
    const k = nodes.filter(() => rng.next() < 0.5);
    const key = k.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(k);
  }
  return out;
}

const spread = (ev: MetricEvaluator) => Math.abs(ev.full.metric - ev.empty.metric);

export function completeness(ev: MetricEvaluator, circuit: Iterable<string>, o: SearchOptions = {}): CompletenessResult {
  const c = new Set(circuit);
  const nodes = circuitComponents(c);
  const samples = o.samples ?? 16, steps = Math.min(o.greedySteps ?? 4, nodes.length);
  const score = (ks: string[][], kind: SubsetScore['kind']): SubsetScore[] => {
    const m = ev.metric(ks.flatMap((k) => [removeNodes(c, k), removeNodes(ev.edges, k)]));
    return ks.map((k, i) => ({ kind, removed: k, circuit: m[2 * i], model: m[2 * i + 1], score: Math.abs(m[2 * i] - m[2 * i + 1]) }));
  };
  const candidates = [...score([[]], 'empty'), ...score(randomSubsets(nodes, samples, o.seed ?? 0), 'random')];
  let k: string[] = [];
  for (let s = 0; s < steps; s++) {
    const rest = nodes.filter((n) => !k.includes(n));
    if (rest.length === 0) break;
    const tried = score(rest.map((n) => [...k, n]), 'greedy');
    const best = tried.reduce((a, b) => (b.score > a.score ? b : a));
    candidates.push(best);
    k = best.removed;
  }
  const worst = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  const d = spread(ev);
  return { nodes, worst, worstNormalised: d < 1e-12 ? null : worst.score / d, candidates };
}

export interface NodeMinimality {
  node: string;
  /** the K giving the largest drop */
  removed: string[];
  /** F(C \ K) and F(C \ (K + v)) */
  withNode: number;
  withoutNode: number;
  drop: number;
  /** drop / |F(C)| */
  relative: number | null;
  /** drop / |F(M) - F(empty)| */
  normalised: number | null;
}

export interface MinimalityResult {
  nodes: NodeMinimality[];
  /** the node whose largest drop is smallest (the least necessary one), or null for no nodes */
  least: NodeMinimality | null;
}

export function minimality(ev: MetricEvaluator, circuit: Iterable<string>, o: SearchOptions = {}): MinimalityResult {
  const c = new Set(circuit);
  const nodes = circuitComponents(c);
  const subsets = [[], ...randomSubsets(nodes, o.samples ?? 16, (o.seed ?? 0) + 1)];
  const fc = ev.metric([c])[0];
  const d = spread(ev);
  const out: NodeMinimality[] = nodes.map((v) => {
    const ks = [...new Map(subsets.map((k) => k.filter((n) => n !== v)).map((k) => [k.join(','), k])).values()];
    const m = ev.metric(ks.flatMap((k) => [removeNodes(c, k), removeNodes(c, [...k, v])]));
    let best = 0;
    for (let i = 1; i < ks.length; i++) if (Math.abs(m[2 * i] - m[2 * i + 1]) > Math.abs(m[2 * best] - m[2 * best + 1])) best = i;
    const drop = Math.abs(m[2 * best] - m[2 * best + 1]);
    return {
      node: v, removed: ks[best], withNode: m[2 * best], withoutNode: m[2 * best + 1], drop,
      relative: fc === 0 ? null : drop / Math.abs(fc), normalised: d < 1e-12 ? null : drop / d,
    };
  });
  const least = out.length === 0 ? null : out.reduce((a, b) => (b.drop < a.drop ? b : a));
  return { nodes: out, least };
}
