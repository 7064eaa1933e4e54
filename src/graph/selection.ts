/**
 * Choosing a circuit from edge scores, and pruning dangling nodes (EAP-IG's `prune`): a sender
 * node counts only if some path of circuit edges reaches it from the input (the embedding
 * senders always count), and a receiver only if its node reaches the logits through circuit
 * edges. Edges touching a dropped node are removed; repeated to a fixed point.
 */

/** The node a receiver belongs to: `a3.h2<q>` -> `a3.h2`, `m4` -> `m4`, `logits`. */
export function receiverNode(receiver: string): string {
  const i = receiver.indexOf('<');
  return i < 0 ? receiver : receiver.slice(0, i);
}

export function splitEdge(key: string): [string, string] {
  const i = key.indexOf('->');
  if (i < 0) throw new Error(`circuit: '${key}' is not an edge key (sender->receiver)`);
  return [key.slice(0, i), key.slice(i + 2)];
}

const INPUTS = new Set(['input', 'tok', 'pos']);

export function pruneDangling(edges: Iterable<string>): Set<string> {
  let cur = new Set(edges);
  for (;;) {
    const parsed = [...cur].map((e) => [e, ...splitEdge(e)] as const);
    // forward reachability from the inputs
    const reached = new Set<string>(INPUTS);
    let changed = true;
    while (changed) {
      changed = false;
      for (const [, s, r] of parsed) {
        const n = receiverNode(r);
        if (reached.has(s) && !reached.has(n)) { reached.add(n); changed = true; }
      }
    }
    // backward reachability from the logits
    const live = new Set<string>(['logits']);
    changed = true;
    while (changed) {
      changed = false;
      for (const [, s, r] of parsed) {
        if (live.has(receiverNode(r)) && !live.has(s)) { live.add(s); changed = true; }
      }
    }
    const next = new Set(parsed.filter(([, s, r]) => reached.has(s) && live.has(receiverNode(r)) && (receiverNode(r) === 'logits' || reached.has(receiverNode(r)))).map(([e]) => e));
    if (next.size === cur.size) return next;
    cur = next;
  }
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
