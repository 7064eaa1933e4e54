/**
 * Choosing a circuit from edge scores (EAP-IG's `apply_topn`, `apply_threshold`,
 * `apply_greedy`), and pruning dangling nodes (EAP-IG's `prune`): a node counts only if some
 * path of circuit edges reaches it from the embedding (the embedding senders always count)
 * and some path leads from it to the logits. Edges touching a dropped node are removed.
 *
 * The pruning is written once, on integer node ids (`keepConnected`); `pruneDangling` applies
 * it to edge keys without a graph, `Circuit.pruneDangling` to a circuit's edge indices.
 *
 * Connected top-n (`selectConnected`, the `--top-n` of discover, sweep's sizes and MIB's
 * budgets): EAP-IG and MIB take the n best edges and then prune, so a budget can come back
 * much smaller or empty (the 10 best edges of IOI rarely form an input-to-logits path). Here
 * the prefix of the ranking grows instead: the circuit is prune(best k) for the smallest k
 * whose pruned set has at least n edges (or, when fewer than n edges of the ranking lie on
 * input-to-logits paths at all, the smallest k that keeps all of them). Pruning is monotone in
 * the edge set (adding an edge only adds nodes reachable from the input and nodes that reach
 * the logits, so every kept edge stays kept): prune(best k) grows with k, the circuits of
 * larger budgets contain those of smaller ones, and kept(k) is non-decreasing, so the smallest
 * k is found by binary search over kept(k) for every k, computed in one pass with incremental
 * reachability (`connectedCounts`, O(nodes + edges)). The pruned prefix can overshoot n by
 * more than one edge (the edge that completes a path also brings every edge waiting on it);
 * the result says how many edges it kept and how many of the ranking it took.
 */
import { receiverNode, splitEdge } from './names.js';

/**
 * Which edges lie on a path from a source to the sink: edge e (from[e] -> to[e], node ids in
 * [0, nNodes)) is kept when a path of the given edges reaches from[e] from a source and one
 * leads from to[e] to the sink. One forward and one backward search, O(nodes + edges); the
 * result is a fixed point (pruning the kept edges again keeps them all), since every edge on
 * such a path is itself kept.
 */
export function keepConnected(nNodes: number, from: ArrayLike<number>, to: ArrayLike<number>, sources: Iterable<number>, sink: number): Uint8Array {
  const E = from.length;
  // adjacency in CSR form, both directions
  const outStart = new Int32Array(nNodes + 1), inStart = new Int32Array(nNodes + 1);
  for (let e = 0; e < E; e++) { outStart[from[e] + 1]++; inStart[to[e] + 1]++; }
  for (let n = 0; n < nNodes; n++) { outStart[n + 1] += outStart[n]; inStart[n + 1] += inStart[n]; }
  const outTo = new Int32Array(E), inFrom = new Int32Array(E);
  const oFill = outStart.slice(0, nNodes), iFill = inStart.slice(0, nNodes);
  for (let e = 0; e < E; e++) { outTo[oFill[from[e]]++] = to[e]; inFrom[iFill[to[e]]++] = from[e]; }
  const search = (seeds: Iterable<number>, start: Int32Array, next: Int32Array): Uint8Array => {
    const seen = new Uint8Array(nNodes);
    const stack: number[] = [];
    for (const n of seeds) if (!seen[n]) { seen[n] = 1; stack.push(n); }
    while (stack.length > 0) {
      const n = stack.pop()!;
      for (let j = start[n]; j < start[n + 1]; j++) if (!seen[next[j]]) { seen[next[j]] = 1; stack.push(next[j]); }
    }
    return seen;
  };
  const reached = search(sources, outStart, outTo);
  const live = search([sink], inStart, inFrom);
  const keep = new Uint8Array(E);
  for (let e = 0; e < E; e++) keep[e] = reached[from[e]] & live[to[e]];
  return keep;
}

const INPUTS = ['input', 'tok', 'pos'];

/** Drop dangling edges from a set of edge keys (no graph needed); the kept keys in input order. */
export function pruneDangling(edges: Iterable<string>): Set<string> {
  const keys = [...new Set(edges)];
  const id = new Map<string, number>();
  const intern = (n: string) => { let i = id.get(n); if (i === undefined) { i = id.size; id.set(n, i); } return i; };
  const sources = INPUTS.map(intern), sink = intern('logits');
  const from = new Int32Array(keys.length), to = new Int32Array(keys.length);
  keys.forEach((e, i) => { const [s, r] = splitEdge(e); from[i] = intern(s); to[i] = intern(receiverNode(r)); });
  const keep = keepConnected(id.size, from, to, sources, sink);
  return new Set(keys.filter((_, i) => keep[i]));
}

function rank(scores: ReadonlyMap<string, number>, absolute: boolean): [string, number][] {
  return [...scores].sort((a, b) => (absolute ? Math.abs(b[1]) - Math.abs(a[1]) : b[1] - a[1]) || (a[0] < b[0] ? -1 : 1));
}

/** Edge keys best first: by |score| (or score), ties by key. */
export function rankByScore(scores: ReadonlyMap<string, number>, absolute = true): string[] {
  return rank(scores, absolute).map(([e]) => e);
}

/** Top-n edges by |score| (EAP-IG apply_topn), not pruned; see `selectConnected` for `--top-n`. */
export function selectTopN(scores: Map<string, number>, n: number, absolute = true): Set<string> {
  if (!Number.isInteger(n) || n < 0) throw new Error(`selection: --top-n must be a non-negative integer, got ${n}`);
  return new Set(rank(scores, absolute).slice(0, n).map(([e]) => e));
}

/** Edges with |score| >= threshold. */
export function selectThreshold(scores: Map<string, number>, threshold: number, absolute = true): Set<string> {
  if (!Number.isFinite(threshold)) throw new Error(`selection: --threshold must be a number, got ${threshold}`);
  return new Set([...scores].filter(([, s]) => (absolute ? Math.abs(s) : s) >= threshold).map(([e]) => e));
}

/**
 * Greedy growth from the logits (EAP-IG apply_greedy): repeatedly add the best-scoring edge
 * whose receiver's node is already in the circuit (the logits start it), until n edges.
 */
export function selectGreedy(scores: Map<string, number>, n: number, absolute = true): Set<string> {
  const val = (s: number) => (absolute ? Math.abs(s) : s);
  const byNode = new Map<string, [string, number][]>();
  for (const [e, s] of scores) {
    const node = receiverNode(splitEdge(e)[1]);
    if (!byNode.has(node)) byNode.set(node, []);
    byNode.get(node)!.push([e, s]);
  }
  const inCircuit = new Set<string>();
  const nodes = new Set<string>();
  const frontier: [string, number][] = [];
  const open = (node: string) => { if (nodes.has(node)) return; nodes.add(node); frontier.push(...(byNode.get(node) ?? [])); };
  open('logits');
  while (inCircuit.size < n && frontier.length > 0) {
    let best = 0;
    for (let i = 1; i < frontier.length; i++) {
      const d = val(frontier[i][1]) - val(frontier[best][1]);
      if (d > 0 || (d === 0 && frontier[i][0] < frontier[best][0])) best = i;
    }
    const [e] = frontier.splice(best, 1)[0];
    if (inCircuit.has(e)) continue;
    inCircuit.add(e);
    open(splitEdge(e)[0]);
  }
  return inCircuit;
}

/** A connected top-n selection: the circuit and how it was reached. */
export interface ConnectedSelection {
  /** the circuit: prune(best `taken` edges), in ranking order; no dangling edge */
  edges: Set<string>;
  /** the edge count asked for */
  asked: number;
  /** length of the ranking's prefix that was taken (before pruning) */
  taken: number;
  /** edges kept (edges.size): >= asked unless fewer edges of the ranking connect input to logits */
  kept: number;
}

/** The ranking as node ids (edge i: from[i] -> to[i]); duplicate keys after the first dropped. */
function internRanking(ranked: Iterable<string>): { keys: string[]; from: Int32Array; to: Int32Array; nNodes: number; sources: number[]; sink: number } {
  const keys = [...new Set(ranked)];
  const id = new Map<string, number>();
  const intern = (n: string) => { let i = id.get(n); if (i === undefined) { i = id.size; id.set(n, i); } return i; };
  const sources = INPUTS.map(intern), sink = intern('logits');
  const from = new Int32Array(keys.length), to = new Int32Array(keys.length);
  keys.forEach((e, i) => { const [s, r] = splitEdge(e); from[i] = intern(s); to[i] = intern(receiverNode(r)); });
  return { keys, from, to, nNodes: id.size, sources, sink };
}

/**
 * kept(k) = |prune(first k edges)| for k = 0 ... E in one pass: edges are added in order while
 * the sets of nodes reached from the sources and nodes reaching the sink grow (each node joins
 * each set once and then scans the edges it has so far; later edges are checked as they come),
 * and an edge is counted when both its ends qualify. O(nodes + edges).
 */
function countsOf(nNodes: number, from: Int32Array, to: Int32Array, sources: readonly number[], sink: number): Int32Array {
  const E = from.length;
  const out: number[][] = Array.from({ length: nNodes }, () => []), inc: number[][] = Array.from({ length: nNodes }, () => []);
  const reached = new Uint8Array(nNodes), live = new Uint8Array(nNodes);
  for (const s of sources) reached[s] = 1;
  live[sink] = 1;
  const counts = new Int32Array(E + 1);
  let count = 0;
  const stack: number[] = [];
  for (let i = 0; i < E; i++) {
    const u = from[i], v = to[i];
    out[u].push(i); inc[v].push(i);
    if (reached[u] && live[v]) count++;
    // everything newly reachable from the input through v: its edges into live nodes now count
    if (reached[u] && !reached[v]) {
      reached[v] = 1; stack.push(v);
      while (stack.length > 0) {
        const x = stack.pop()!;
        for (const j of out[x]) { const y = to[j]; if (live[y]) count++; if (!reached[y]) { reached[y] = 1; stack.push(y); } }
      }
    }
    // everything that now reaches the logits through u: its edges from reached nodes now count
    if (live[v] && !live[u]) {
      live[u] = 1; stack.push(u);
      while (stack.length > 0) {
        const x = stack.pop()!;
        for (const j of inc[x]) { const w = from[j]; if (reached[w]) count++; if (!live[w]) { live[w] = 1; stack.push(w); } }
      }
    }
    counts[i + 1] = count;
  }
  return counts;
}

/** kept(k) = |pruneDangling(ranked.slice(0, k))| for every k = 0 ... ranked.length, in one pass. */
export function connectedCounts(ranked: Iterable<string>): Int32Array {
  const r = internRanking(ranked);
  return countsOf(r.nNodes, r.from, r.to, r.sources, r.sink);
}

const checkCount = (n: number) => {
  if (!Number.isInteger(n) || n < 0) throw new Error(`selection: --top-n must be a non-negative integer, got ${n}`);
};

/**
 * Connected top-n for several budgets over one ranking (best first): per budget n, prune(best
 * k) for the smallest k with at least n kept edges, or the smallest k keeping every connectable
 * edge of the ranking when fewer than n are (see the header). n = 0 gives the empty circuit.
 */
export function selectConnectedRanked(ranked: Iterable<string>, sizes: readonly number[]): ConnectedSelection[] {
  sizes.forEach(checkCount);
  const r = internRanking(ranked);
  const counts = countsOf(r.nNodes, r.from, r.to, r.sources, r.sink);
  const E = r.keys.length, most = counts[E];
  return sizes.map((n) => {
    const target = Math.min(n, most);
    // smallest k with counts[k] >= target (counts is non-decreasing)
    let lo = 0, hi = E;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (counts[mid] >= target) hi = mid; else lo = mid + 1; }
    const keep = keepConnected(r.nNodes, r.from.subarray(0, lo), r.to.subarray(0, lo), r.sources, r.sink);
    const edges = new Set<string>();
    for (let i = 0; i < lo; i++) if (keep[i]) edges.add(r.keys[i]);
    if (edges.size !== counts[lo]) throw new Error(`selection: internal error: prefix ${lo} keeps ${edges.size} edges, counted ${counts[lo]}`);
    return { edges, asked: n, taken: lo, kept: edges.size };
  });
}

/**
 * `--top-n n`: a connected circuit of at least n edges (exactly n when the best edges allow),
 * grown along the ranking by |score| (or score); see `selectConnectedRanked`.
 */
export function selectConnected(scores: ReadonlyMap<string, number>, n: number, absolute = true): ConnectedSelection {
  checkCount(n);
  return selectConnectedRanked(rankByScore(scores, absolute), [n])[0];
}

