/**
 * The IOI paper's three criteria (Wang et al. 2023, §4; docs/methods.md "Evaluating a circuit"), on
 * the edge-level graph. F(X) is the task metric of the model in which every edge outside X
 * carries its ablated value (the evaluator's ablation; the paper mean-ablates over the ABC
 * distribution, `--ablation mean` here). M is the full graph, C the circuit, and removing a set
 * K of nodes (heads, MLPs) from X drops every edge of X out of or into a node of K, so those
 * nodes carry their ablated output everywhere.
 *
 * - Faithfulness: F(C) / F(M) (the paper's "87% of the logit difference") and the normalised
 *   form (F(C) - F(empty)) / (F(M) - F(empty)) (EAP-IG, MIB; the evaluator's `normalise`, the
 *   one formula everything uses), plus KL(clean || C) and the task's further metrics.
 * - Completeness: for subsets K of C's nodes, |F(C \ K) - F(M \ K)|; a complete circuit keeps
 *   it small for every K. Candidates: K = empty, `samples` random subsets (each node with
 *   probability 1/2), and a greedy search that adds, `greedySteps` times, the node that
 *   maximises the score. The worst candidate is reported, also divided by |F(M) - F(empty)|.
 * - Minimality: for each node v of C, max over K (empty and the random subsets, without v) of
 *   |F(C \ (K + v)) - F(C \ K)|, relative to |F(C)| (the paper's percentages) and to
 *   |F(M) - F(empty)|; a minimal circuit has no node whose every such drop is small.
 */
import { receiverNode, splitEdge } from '../graph/names.js';
import { Rng } from '../util/rng.js';
import type { MetricEvaluator } from '../patching/metrics.js';

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

export async function faithfulness(ev: MetricEvaluator, circuit: Iterable<string>): Promise<FaithfulnessResult> {
  const c = new Set(circuit);
  const [m] = await ev.evaluate([c]);
  const { full, empty } = ev;
  const extras = Object.keys(full.extras).map((name) => (
    { name, full: full.extras[name], empty: empty.extras[name], circuit: m.extras[name], normalised: ev.normalise(m.extras[name], name) }
  ));
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

export async function completeness(ev: MetricEvaluator, circuit: Iterable<string>, o: SearchOptions = {}): Promise<CompletenessResult> {
  const c = new Set(circuit);
  const nodes = circuitComponents(c);
  const samples = o.samples ?? 16, steps = Math.min(o.greedySteps ?? 4, nodes.length);
  /** each subset K (with its kind) scored; all of one call in one batch of circuits */
  const score = async (ks: [string[], SubsetScore['kind']][]): Promise<SubsetScore[]> => {
    const m = await ev.metric(ks.flatMap(([k]) => [removeNodes(c, k), removeNodes(ev.edges, k)]));
    return ks.map(([k, kind], i) => ({ kind, removed: k, circuit: m[2 * i], model: m[2 * i + 1], score: Math.abs(m[2 * i] - m[2 * i + 1]) }));
  };
  const candidates = await score([[[], 'empty'], ...randomSubsets(nodes, samples, o.seed ?? 0).map((k): [string[], SubsetScore['kind']] => [k, 'random'])]);
  let k: string[] = [];
  for (let s = 0; s < steps; s++) {
    const rest = nodes.filter((n) => !k.includes(n));
    if (rest.length === 0) break;
    const tried = await score(rest.map((n) => [[...k, n], 'greedy']));
    const best = tried.reduce((a, b) => (b.score > a.score ? b : a));
    candidates.push(best);
    k = best.removed;
  }
  const worst = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  return { nodes, worst, worstNormalised: ev.relative(worst.score), candidates };
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
  /** F(C), the base of every node's `relative` */
  circuit: number;
  /**
   * max(|F(M)|, |F(M) - F(empty)|): the metric's scale. Where |F(C)| is negligible next to it
   * (fmtRatio's rule, |F(C)| <= 1e-3 scale) `relative` divides by float noise; reports print
   * "n/a (base ≈ 0)" instead.
   */
  scale: number;
  nodes: NodeMinimality[];
  /** the node whose largest drop is smallest (the least necessary one), or null for no nodes */
  least: NodeMinimality | null;
}

export async function minimality(ev: MetricEvaluator, circuit: Iterable<string>, o: SearchOptions = {}): Promise<MinimalityResult> {
  const c = new Set(circuit);
  const nodes = circuitComponents(c);
  const subsets = [[], ...randomSubsets(nodes, o.samples ?? 16, (o.seed ?? 0) + 1)];
  // every node's subsets K (without v), then C, C \ K and C \ (K + v) of all nodes in one batch of circuits
  const perNode = nodes.map((v) => [...new Map(subsets.map((k) => k.filter((n) => n !== v)).map((k) => [k.join(','), k])).values()]);
  const all = await ev.metric([c, ...nodes.flatMap((v, j) => perNode[j].flatMap((k) => [removeNodes(c, k), removeNodes(c, [...k, v])]))]);
  const fc = all[0];
  let at = 1;
  const out: NodeMinimality[] = nodes.map((v, j) => {
    const ks = perNode[j];
    const m = all.slice(at, at + 2 * ks.length);
    at += 2 * ks.length;
    let best = 0;
    for (let i = 1; i < ks.length; i++) if (Math.abs(m[2 * i] - m[2 * i + 1]) > Math.abs(m[2 * best] - m[2 * best + 1])) best = i;
    const drop = Math.abs(m[2 * best] - m[2 * best + 1]);
    return {
      node: v, removed: ks[best], withNode: m[2 * best], withoutNode: m[2 * best + 1], drop,
      relative: fc === 0 ? null : drop / Math.abs(fc), normalised: ev.relative(drop),
    };
  });
  const least = out.length === 0 ? null : out.reduce((a, b) => (b.drop < a.drop ? b : a));
  return { circuit: fc, scale: Math.max(Math.abs(ev.full.metric), Math.abs(ev.full.metric - ev.empty.metric)), nodes: out, least };
}
