/**
 * Choosing a circuit from edge scores (EAP-IG's `apply_topn`, `apply_threshold`,
 * `apply_greedy`), and pruning dangling nodes (EAP-IG's `prune`): a node counts only if some
 * path of circuit edges reaches it from the embedding (the embedding senders always count)
 * and some path leads from it to the logits. Edges touching a dropped node are removed.
 *
 * The pruning is written once, on integer node ids (`keepConnected`); `pruneDangling` applies
 * it to edge keys without a graph, `Circuit.pruneDangling` to a circuit's edge indices.
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

function rank(scores: Map<string, number>, absolute: boolean): [string, number][] {
  return [...scores].sort((a, b) => (absolute ? Math.abs(b[1]) - Math.abs(a[1]) : b[1] - a[1]) || (a[0] < b[0] ? -1 : 1));
}

/** Top-n edges by |score| (EAP-IG apply_topn). */
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
