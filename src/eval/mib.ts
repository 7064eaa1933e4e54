/**
 * MIB's circuit-localisation scores (Mueller et al. 2025, docs/methods.md "Evaluating a circuit";
 * MIB `MIB_circuit_track/evaluation.py::evaluate_area_under_curve`).
 *
 * For each circuit size k in {0.1%, 0.2%, 0.5%, 1%, 2%, 5%, 10%, 20%, 50%, 100%} of the graph's
 * N edges, the circuit is the top floor(k * N) edges by score (Python's `int(pct * n)`), pruned
 * of dangling nodes, and its normalised faithfulness f(k) = (m(C_k) - m(empty)) / (m(M) -
 * m(empty)) is measured. CPR = the trapezoid area under f over k on a linear [0.001, 1] axis
 * (higher is better; MIB ranks by signed score for it), CMD = the trapezoid area of |1 - f(k)|
 * (lower is better; MIB ranks by |score|). Both areas span 0.999 of the axis, so f = 1
 * everywhere gives CPR 0.999 and CMD 0.
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
import { pruneDangling } from '../graph/selection.js';
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

/** The MIB circuits from scores: top floor(k N) edges of the ranking per size, pruned. */
export function mibCircuitsFromScores(edges: readonly string[], scores: ReadonlyMap<string, number | null>, o: RankOptions, sizes: readonly number[] = MIB_SIZES): Set<string>[] {
  const ranked = rankEdges(edges, scores, o);
  return mibCounts(edges.length, sizes).map((n) => pruneDangling(ranked.slice(0, n)));
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

/** Trapezoid areas of f(k) and |1 - f(k)| over the sizes on a linear axis. */
export function mibArea(faithfulness: readonly number[], sizes: readonly number[] = MIB_SIZES): MibArea {
  if (faithfulness.length !== sizes.length) throw new Error(`eval: ${faithfulness.length} faithfulness values for ${sizes.length} circuit sizes`);
  let cpr = 0, cmd = 0;
  for (let i = 0; i + 1 < sizes.length; i++) {
    const w = sizes[i + 1] - sizes[i];
    cpr += (w * (faithfulness[i] + faithfulness[i + 1])) / 2;
    cmd += (w * (Math.abs(1 - faithfulness[i]) + Math.abs(1 - faithfulness[i + 1]))) / 2;
  }
  return { cpr, cmd };
}
