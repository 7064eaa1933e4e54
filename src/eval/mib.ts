/**
 * MIB's circuit-localisation scores (Mueller et al. 2025, docs/methods.md "Evaluating a circuit";
 * MIB `MIB_circuit_track/evaluation.py::evaluate_area_under_curve`).
 *
 * For each circuit size k in {0.1%, 0.2%, 0.5%, 1%, 2%, 5%, 10%, 20%, 50%, 100%} of the graph's
 * N edges, the budget is floor(k * N) edges (Python's `int(pct * n)`), the circuit C_k a
 * connected selection of that many edges from the ranking (below), and its normalised
 * faithfulness f(k) = (m(C_k) - m(empty)) / (m(M) - m(empty)) is measured. CPR = the trapezoid
 * area under f over the edge fraction on a linear axis (higher is better; MIB ranks by signed
 * score for it), CMD = the trapezoid area of |1 - f| (lower is better; MIB ranks by |score|).
 * With every circuit within its budget both areas span [0.001, 1], 0.999 of the axis, so f = 1
 * everywhere gives CPR 0.999 and CMD 0.
 *
 * Departure from MIB: MIB takes the top floor(k N) edges and then prunes dangling nodes, so a
 * small budget can keep far fewer edges, or none (the best edges need not form a path from the
 * input to the logits). Here C_k is `selectConnectedRanked` (src/graph/selection.ts): the
 * ranking's prefix grows until its pruned circuit has at least floor(k N) edges, so each budget
 * gives a connected circuit of about that size. It can overshoot the budget (the edge that
 * completes a path brings every edge waiting on it); the point then sits at its real size on
 * the x-axis, x = max(k, kept / N) (`mibAxis`), so extra edges are never credited to a smaller
 * budget. Within budget x = k, as MIB's.
 *
 * Signed ranking needs "higher = more important". Scores here do not all point that way:
 * ACDC's score is the rise of its objective when the edge is removed (important edges score
 * high), EAP's and EAP-IG's approximate the change of the task metric when the edge is
 * ablated (important edges score low). `importanceSign` says which; signed ranking uses
 * sign * score. Edges without a score (ACDC never tests edges into dead nodes) rank last.
 *
 * Methods that give circuits rather than scores (an ACDC threshold sweep) use MIB's
 * submission rule instead: at each size the largest circuit of the sweep with at most
 * floor(k * N) edges (or the empty circuit), and the full graph at 100%.
 */
import { selectConnectedRanked, type ConnectedSelection } from '../graph/selection.js';
import { getMethod, methodNames } from '../discovery/registry.js';

export const MIB_SIZES: readonly number[] = Object.freeze([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);

/** Edge counts of the MIB sizes for a graph of n edges: floor(k * n), as MIB's int(pct * n). */
export function mibCounts(nEdges: number, sizes: readonly number[] = MIB_SIZES): number[] {
  return sizes.map((k) => Math.floor(k * nEdges));
}

/**
 * +1 when a method's higher scores mean more important edges, -1 when lower scores do: the
 * method's registry entry says; +1 for a method not registered here (an imported circuit).
 */
export function importanceSign(method: string): 1 | -1 {
  return methodNames().includes(method) ? getMethod(method).scoreSign : 1;
}

export interface RankOptions {
  /** rank by |score| (CMD) rather than by sign * score (CPR) */
  absolute: boolean;
  /** see importanceSign */
  sign: 1 | -1;
}

/** All edges ranked best first; ties and unscored edges by key, unscored last. */
export function rankEdges(edges: readonly string[], scores: ReadonlyMap<string, number | null>, o: RankOptions): string[] {
  const key = (e: string): number => {
    const s = scores.get(e);
    if (s === null || s === undefined || !Number.isFinite(s)) return -Infinity;
    return o.absolute ? Math.abs(s) : o.sign * s;
  };
  return edges.map((e) => [e, key(e)] as const)
    .sort((a, b) => (b[1] === a[1] ? (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) : b[1] - a[1]))
    .map(([e]) => e);
}

/** The MIB selections from scores: per size, a connected circuit of at least floor(k N) edges of the ranking (see the header). */
export function mibSelections(edges: readonly string[], scores: ReadonlyMap<string, number | null>, o: RankOptions, sizes: readonly number[] = MIB_SIZES): ConnectedSelection[] {
  return selectConnectedRanked(rankEdges(edges, scores, o), mibCounts(edges.length, sizes));
}

/** The MIB circuits from scores (`mibSelections`' circuits). */
export function mibCircuitsFromScores(edges: readonly string[], scores: ReadonlyMap<string, number | null>, o: RankOptions, sizes: readonly number[] = MIB_SIZES): Set<string>[] {
  return mibSelections(edges, scores, o, sizes).map((s) => s.edges);
}

/**
 * The x-axis of the MIB curve: per size the fraction of edges, max(k, kept / N), the nominal
 * size unless the circuit has more edges than floor(k N) (a connected selection's overshoot).
 */
export function mibAxis(kept: readonly number[], nEdges: number, sizes: readonly number[] = MIB_SIZES): number[] {
  if (kept.length !== sizes.length) throw new Error(`eval: ${kept.length} circuit sizes for ${sizes.length} MIB sizes`);
  return sizes.map((k, i) => (nEdges > 0 && kept[i] > Math.floor(k * nEdges) ? Math.max(k, kept[i] / nEdges) : k));
}

/**
 * The MIB circuits from a set of circuits (e.g. an ACDC threshold sweep): per size the largest
 * circuit with at most floor(k N) edges, else the empty circuit; the full graph at k = 1.
 */
export function mibCircuitsFromSweep(edges: readonly string[], circuits: readonly ReadonlySet<string>[], sizes: readonly number[] = MIB_SIZES): Set<string>[] {
  const sorted = [...circuits].sort((a, b) => b.size - a.size);
  return mibCounts(edges.length, sizes).map((n, i) => {
    if (sizes[i] >= 1) return new Set(edges);
    const c = sorted.find((x) => x.size <= n);
    return new Set(c ?? []);
  });
}

export interface MibArea {
  /** area under f(k) (higher is better) */
  cpr: number;
  /** area under |1 - f(k)| (lower is better) */
  cmd: number;
}

/** Trapezoid areas of f and |1 - f| over the sizes (edge fractions, e.g. `mibAxis`) on a linear axis. */
export function mibArea(faithfulness: readonly number[], sizes: readonly number[] = MIB_SIZES): MibArea {
  if (faithfulness.length !== sizes.length) throw new Error(`eval: ${faithfulness.length} faithfulness values for ${sizes.length} circuit sizes`);
  for (let i = 0; i + 1 < sizes.length; i++) if (!(sizes[i + 1] >= sizes[i])) throw new Error(`eval: circuit sizes must not decrease, got ${sizes[i]} then ${sizes[i + 1]}`);
  let cpr = 0, cmd = 0;
  for (let i = 0; i + 1 < sizes.length; i++) {
    const w = sizes[i + 1] - sizes[i];
    cpr += (w * (faithfulness[i] + faithfulness[i + 1])) / 2;
    cmd += (w * (Math.abs(1 - faithfulness[i]) + Math.abs(1 - faithfulness[i + 1]))) / 2;
  }
  return { cpr, cmd };
}
