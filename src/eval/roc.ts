/**
 * Circuits against a reference circuit: edge- and node-level confusion counts, ROC points and
 * ACDC's "pessimistic" AUC (docs/methods.md "Evaluating a circuit"; ACDC
 * `acdc/acdc_graphics.py::pessimistic_auc`, `notebooks/roc_plot_generator.py`).
 *
 * Edge level: the universe is every edge of the graph (`layoutEdges`); positives are the
 * reference's edges, negatives all others. ACDC's graph also has one q/k/v "direct" edge per
 * head input; `countDirect` adds them as virtual edges `a{L}.h{H}<x>=>a{L}.h{H}`, present when
 * the head input receives any edge (what ACDC's `acdcCount` of a reference counts).
 *
 * Node level (ACDC `get_node_stats` + `filter_nodes`): a node is present when it touches a
 * present edge. Nodes are the senders (`input` or `tok`/`pos`, `a{L}.h{H}`, `m{L}`), each head
 * input `a{L}.h{H}<q|k|v>` separately (ACDC folds `hook_q_input` into `hook_q`, a node apart
 * from the head's output) and `logits`; an MLP's input is the same node as its output `m{L}`
 * (what ACDC meant to do; its string split drops `mlp_in` instead).
 *
 * Curve: the points of a sweep plus (0, 0) and (1, 1); a point is dropped when another has a
 * smaller FPR and a larger TPR; the rest sorted by (FPR, TPR). AUC = sum_{i>=1} (1 - x_i)(y_i -
 * y_{i-1}): the area under the staircase that steps right, then up (pessimistic).
 */
import { receiverNode, splitEdge } from '../graph/names.js';

export interface Confusion {
  tp: number; fp: number; fn: number; tn: number;
  /** recall; null when there are no positives */
  tpr: number | null;
  /** null when there are no negatives */
  fpr: number | null;
  precision: number | null;
  f1: number | null;
}

export interface RocPoint { fpr: number; tpr: number; label?: string }

export function confusion(found: ReadonlySet<string>, reference: ReadonlySet<string>, universe: readonly string[]): Confusion {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  const inUniverse = new Set(universe);
  for (const e of found) if (!inUniverse.has(e)) throw new Error(`eval: '${e}' (found circuit) is not in the graph being compared`);
  for (const e of reference) if (!inUniverse.has(e)) throw new Error(`eval: '${e}' (reference circuit) is not in the graph being compared`);
  for (const e of inUniverse) {
    const f = found.has(e), r = reference.has(e);
    if (f && r) tp++; else if (f) fp++; else if (r) fn++; else tn++;
  }
  return rates(tp, fp, fn, tn);
}

function rates(tp: number, fp: number, fn: number, tn: number): Confusion {
  const div = (a: number, b: number) => (b === 0 ? null : a / b);
  const precision = div(tp, tp + fp), tpr = div(tp, tp + fn);
  const f1 = precision === null || tpr === null ? null : precision + tpr === 0 ? 0 : (2 * precision * tpr) / (precision + tpr);
  return { tp, fp, fn, tn, tpr, fpr: div(fp, fp + tn), precision, f1 };
}

/** ACDC's q/k/v direct edges of a circuit: one per head input that receives an edge. */
export function directEdges(edges: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const e of edges) {
    const r = splitEdge(e)[1];
    if (/<[qkv]>$/.test(r)) out.add(`${r}=>${receiverNode(r)}`);
  }
  return [...out];
}

/** Edges of a circuit with ACDC's direct edges added (see the header). */
export function withDirect(edges: Iterable<string>): Set<string> {
  const s = new Set(edges);
  for (const d of directEdges(s)) s.add(d);
  return s;
}

/**
 * Nodes touched by the edges (see the header): the sender, and the receiver's own name, so a
 * head input `a1.h0<q>` is a node apart from the head `a1.h0`, and the MLP input `m2` is the
 * same node as the MLP's output `m2`.
 */
export function rocNodes(edges: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const e of edges) { const [s, r] = splitEdge(e); out.add(s); out.add(r); }
  return out;
}

export interface CompareOptions {
  /** add ACDC's q/k/v direct edges to the edge-level comparison */
  countDirect?: boolean;
}

export interface CircuitVsReference {
  edges: Confusion;
  nodes: Confusion;
}

/**
 * A scorer of circuits against one reference over one graph (`allEdges`): the universes and
 * the reference's edge and node sets are built once, so a sweep of many circuits stays linear
 * in the circuits' sizes.
 */
export function referenceScorer(reference: Iterable<string>, allEdges: readonly string[], opts: CompareOptions = {}): (found: Iterable<string>) => CircuitVsReference {
  const edgeUniverse = opts.countDirect ? [...allEdges, ...directEdges(allEdges)] : [...allEdges];
  const eu = new Set(edgeUniverse);
  const nu = rocNodes(allEdges);
  const refList = [...reference];
  const r = opts.countDirect ? withDirect(refList) : new Set(refList);
  for (const e of r) if (!eu.has(e)) throw new Error(`eval: '${e}' (reference circuit) is not in the graph being compared`);
  const rn = rocNodes(refList);
  const count = (found: Set<string>, ref: Set<string>, universe: Set<string>): Confusion => {
    let tp = 0, fp = 0;
    for (const e of found) {
      if (!universe.has(e)) throw new Error(`eval: '${e}' (found circuit) is not in the graph being compared`);
      if (ref.has(e)) tp++; else fp++;
    }
    const fn = ref.size - tp, tn = universe.size - ref.size - fp;
    return rates(tp, fp, fn, tn);
  };
  return (found) => {
    const list = [...found];
    return { edges: count(opts.countDirect ? withDirect(list) : new Set(list), r, eu), nodes: count(rocNodes(list), rn, nu) };
  };
}

/** Edge- and node-level confusion of one circuit against a reference, over the graph `allEdges`. */
export function compareToReference(found: Iterable<string>, reference: Iterable<string>, allEdges: readonly string[], opts: CompareOptions = {}): CircuitVsReference {
  return referenceScorer(reference, allEdges, opts)(found);
}

/** The ROC point of a confusion (null rates, i.e. no positives or negatives, count as 0). */
export function rocPoint(c: Confusion, label?: string): RocPoint {
  return { fpr: c.fpr ?? 0, tpr: c.tpr ?? 0, ...(label !== undefined ? { label } : {}) };
}

/**
 * ACDC's curve: the points plus (0, 0) and (1, 1), without dominated points (another point has
 * a smaller FPR and a larger TPR), sorted by FPR then TPR; duplicates removed.
 */
export function paretoCurve(points: readonly RocPoint[]): RocPoint[] {
  const all: RocPoint[] = [{ fpr: 0, tpr: 0 }, ...points.map((p) => ({ ...p })), { fpr: 1, tpr: 1 }];
  for (const p of all) {
    if (!(p.fpr >= 0 && p.fpr <= 1 && p.tpr >= 0 && p.tpr <= 1)) throw new Error(`eval: ROC point (${p.fpr}, ${p.tpr}) is outside [0, 1]^2`);
  }
  const kept = all.filter((p) => !all.some((q) => q.fpr < p.fpr && q.tpr > p.tpr));
  kept.sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr);
  const out: RocPoint[] = [];
  for (const p of kept) {
    const last = out[out.length - 1];
    if (last && last.fpr === p.fpr && last.tpr === p.tpr) { if (p.label && !last.label) last.label = p.label; continue; }
    out.push(p);
  }
  return out;
}

/**
 * ACDC's pessimistic AUC of already sorted, monotone points: sum_{i>=1} (1 - x_i)(y_i - y_{i-1}).
 * Throws when the points are not sorted by x or y decreases (as ACDC's asserts do).
 */
export function staircaseArea(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length) throw new Error(`eval: ${xs.length} x values but ${ys.length} y values`);
  let area = 0;
  for (let i = 1; i < xs.length; i++) {
    if (xs[i] < xs[i - 1]) throw new Error('eval: ROC points not sorted by FPR');
    if (ys[i] < ys[i - 1]) throw new Error('eval: ROC points not monotonically increasing in TPR');
    area += (1 - xs[i]) * (ys[i] - ys[i - 1]);
  }
  return area;
}

/** Pessimistic AUC of a sweep's ROC points (the Pareto staircase with (0,0) and (1,1) added). */
export function pessimisticAuc(points: readonly RocPoint[]): number {
  const c = paretoCurve(points);
  return staircaseArea(c.map((p) => p.fpr), c.map((p) => p.tpr));
}
