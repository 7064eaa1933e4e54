/**
 * A circuit: a set of edges of one ComponentGraph. Immutable; operations return new circuits.
 * Stored as one byte per edge in the graph's edge order (receiver-major), so membership,
 * masks and set algebra are array scans.
 *
 * Mask layout (`maskMatrix()`): one Float32Array of nReceivers * nSenders, row-major by
 * receiver: entry [r * nSenders + s] is 1 when edge (sender column s -> receiver row r) is in
 * the circuit, else 0 (also 0 where the graph has no such edge). Rows and columns are the
 * graph's receiver and sender indices; a receiver group's rows are contiguous and its senders
 * are the columns [0, group.sendersBefore). This is the layout the patching engine uses (layout.ts).
 */
import type { ComponentGraph } from './graph.js';
import { whyNoEdge } from './graph.js';
import { EDGE_FORMAT, QKV, normalizeReceiverKey, parseNodeKey, type Qkv } from './names.js';
import { keepConnected } from './selection.js';

export class Circuit implements Iterable<string> {
  readonly graph: ComponentGraph;
  /** number of edges in the circuit */
  readonly size: number;
  private readonly bits: Uint8Array;

  private constructor(graph: ComponentGraph, bits: Uint8Array) {
    this.graph = graph;
    this.bits = bits;
    let n = 0;
    for (let i = 0; i < bits.length; i++) n += bits[i];
    this.size = n;
    Object.freeze(this);
  }

  static full(graph: ComponentGraph): Circuit {
    return new Circuit(graph, new Uint8Array(graph.nEdges).fill(1));
  }

  static empty(graph: ComponentGraph): Circuit {
    return new Circuit(graph, new Uint8Array(graph.nEdges));
  }

  /**
   * From edge keys (`a0.h1->a2.h3<q>`; `a0.h1->a2.h3.q` is accepted). A key that is not an
   * edge of the graph is an error naming it and the closest valid key; `source` (a file name)
   * prefixes the message.
   */
  static fromEdges(graph: ComponentGraph, keys: Iterable<string>, opts: { source?: string } = {}): Circuit {
    const bits = new Uint8Array(graph.nEdges);
    for (const k of keys) {
      const e = graph.edgeIndex(k);
      if (e < 0) throw new Error(edgeError(graph, k, opts.source));
      bits[e] = 1;
    }
    return new Circuit(graph, bits);
  }

  /** From edge indices (graph order). */
  static fromIndices(graph: ComponentGraph, indices: Iterable<number>): Circuit {
    const bits = new Uint8Array(graph.nEdges);
    for (const e of indices) {
      if (!Number.isInteger(e) || e < 0 || e >= graph.nEdges) throw new Error(`circuit: edge index ${e} out of range [0, ${graph.nEdges})`);
      bits[e] = 1;
    }
    return new Circuit(graph, bits);
  }

  /** From a mask in the `maskMatrix()` layout: edges whose entry is > threshold (default 0.5). Entries where no edge exists are ignored. */
  static fromMask(graph: ComponentGraph, mask: ArrayLike<number>, threshold = 0.5): Circuit {
    const S = graph.nSenders;
    if (mask.length !== graph.nReceivers * S) throw new Error(`circuit: mask has ${mask.length} entries, expected nReceivers * nSenders = ${graph.nReceivers} * ${S}`);
    const bits = new Uint8Array(graph.nEdges);
    for (let e = 0; e < graph.nEdges; e++) if (mask[graph.edgeReceiver[e] * S + graph.edgeSender[e]] > threshold) bits[e] = 1;
    return new Circuit(graph, bits);
  }

  /** Whether the edge is in the circuit (false for keys that are not edges of the graph). */
  has(key: string): boolean {
    const e = this.graph.edgeIndex(key);
    return e >= 0 && this.bits[e] === 1;
  }

  hasIndex(edge: number): boolean {
    return this.bits[edge] === 1;
  }

  /** Edge indices in the circuit, ascending (graph order). */
  indices(): Int32Array {
    const out = new Int32Array(this.size);
    let j = 0;
    for (let e = 0; e < this.bits.length; e++) if (this.bits[e]) out[j++] = e;
    return out;
  }

  /** Edge keys in graph order (receiver-major, senders ascending): stable across runs. */
  toArray(): string[] {
    return Array.from(this.indices(), (e) => this.graph.edgeKey(e));
  }

  [Symbol.iterator](): Iterator<string> {
    return this.toArray()[Symbol.iterator]();
  }

  toJSON(): string[] {
    return this.toArray();
  }

  /** The same edge keys as a circuit of another graph (e.g. from a `pos: false` graph to the split graph); a key the other graph lacks is an error. */
  toGraph(graph: ComponentGraph): Circuit {
    return graph === this.graph ? this : Circuit.fromEdges(graph, this.toArray());
  }

  /** A copy with these edges added (validated like fromEdges). */
  with(keys: Iterable<string>): Circuit {
    const bits = this.bits.slice();
    for (const k of keys) {
      const e = this.graph.edgeIndex(k);
      if (e < 0) throw new Error(edgeError(this.graph, k));
      bits[e] = 1;
    }
    return new Circuit(this.graph, bits);
  }

  /** A copy with these edges removed (validated like fromEdges). */
  without(keys: Iterable<string>): Circuit {
    const bits = this.bits.slice();
    for (const k of keys) {
      const e = this.graph.edgeIndex(k);
      if (e < 0) throw new Error(edgeError(this.graph, k));
      bits[e] = 0;
    }
    return new Circuit(this.graph, bits);
  }

  union(other: Circuit): Circuit {
    return this.combine(other, (a, b) => a | b);
  }

  intersect(other: Circuit): Circuit {
    return this.combine(other, (a, b) => a & b);
  }

  minus(other: Circuit): Circuit {
    return this.combine(other, (a, b) => a & (1 - b));
  }

  equals(other: Circuit): boolean {
    this.sameGraph(other);
    for (let e = 0; e < this.bits.length; e++) if (this.bits[e] !== other.bits[e]) return false;
    return true;
  }

  /** Dense mask, layout in the module header: Float32Array[nReceivers * nSenders], row = receiver, column = sender, 1 = in the circuit. */
  maskMatrix(): Float32Array {
    const g = this.graph, S = g.nSenders;
    const m = new Float32Array(g.nReceivers * S);
    for (let e = 0; e < this.bits.length; e++) if (this.bits[e]) m[g.edgeReceiver[e] * S + g.edgeSender[e]] = 1;
    return m;
  }

  /** Component nodes touched by the circuit's edges (senders and receivers' nodes), in topological order. */
  nodes(): string[] {
    const g = this.graph;
    const touched = new Uint8Array(g.nSenders + 1); // last slot = logits
    for (let e = 0; e < this.bits.length; e++) {
      if (!this.bits[e]) continue;
      touched[g.edgeSender[e]] = 1;
      touched[nodeSlot(g, g.edgeReceiver[e])] = 1;
    }
    return g.nodeKeys.filter((_, i) => touched[i]);
  }

  /**
   * ACDC's edge count of this circuit: its edges plus one "direct computation" edge
   * (hook_q_input -> hook_q, likewise k, v) for each q/k/v receiver that has an incoming
   * edge. For the full circuit this is graph.nEdgesAcdc; for the canonical IOI, Greater-Than
   * and Docstring circuits it gives ACDC's 1041, 262 and 37.
   */
  sizeAcdc(): number {
    const g = this.graph;
    const fed = new Uint8Array(g.nReceivers);
    for (let e = 0; e < this.bits.length; e++) if (this.bits[e]) fed[g.edgeReceiver[e]] = 1;
    let n = this.size;
    for (const r of g.receivers) if (r.qkv && fed[r.index]) n++;
    return n;
  }

  /**
   * Remove dangling edges (EAP-IG `Graph.prune`, ACDC's removal of nodes with no path to the
   * output): an edge stays when a path of circuit edges reaches its sender from the embedding
   * and one leads from its receiver's node (a head through any of its q, k, v inputs) to the
   * logits. The result is a fixed point. Returns this circuit when nothing dangles. The
   * algorithm is `keepConnected` (selection.ts), which `pruneDangling` on edge keys also runs.
   */
  pruneDangling(): Circuit {
    const g = this.graph, S = g.nSenders;
    const idx = this.indices();
    const from = new Int32Array(idx.length), to = new Int32Array(idx.length);
    idx.forEach((e, i) => { from[i] = g.edgeSender[e]; to[i] = nodeSlot(g, g.edgeReceiver[e]); });
    const sources = g.senders.filter((s) => s.layer < 0).map((s) => s.index);
    const keep = keepConnected(S + 1, from, to, sources, S);
    if (keep.every((k) => k === 1)) return this;
    const bits = new Uint8Array(this.bits.length);
    idx.forEach((e, i) => { bits[e] = keep[i]; });
    return new Circuit(g, bits);
  }

  private combine(other: Circuit, f: (a: number, b: number) => number): Circuit {
    this.sameGraph(other);
    const bits = new Uint8Array(this.bits.length);
    for (let e = 0; e < bits.length; e++) bits[e] = f(this.bits[e], other.bits[e]);
    return new Circuit(this.graph, bits);
  }

  private sameGraph(other: Circuit): void {
    const a = this.graph, b = other.graph;
    if (a !== b && (a.nEdges !== b.nEdges || a.nSenders !== b.nSenders || a.cfg.nLayers !== b.cfg.nLayers || a.cfg.nHeads !== b.cfg.nHeads)) {
      throw new Error(`circuit: the two circuits belong to different graphs (${a.describe()} vs ${b.describe()})`);
    }
  }
}

/** Node slot of a receiver row: its node's sender column, or nSenders for logits. */
function nodeSlot(g: ComponentGraph, receiver: number): number {
  const s = g.receivers[receiver].nodeSender;
  return s < 0 ? g.nSenders : s;
}

export interface CircuitFromNodesOptions {
  /** add the embedding sender(s) to the node set (default true) */
  inputs?: boolean;
  /** add `logits` to the node set (default true) */
  logits?: boolean;
  /** which of a head's inputs receive edges (default q, k and v) */
  qkv?: readonly Qkv[];
}

/**
 * The circuit of every edge between the given component nodes (`a9.h9`, `m3`, `input`, ...):
 * an edge is in when its sender node and its receiver's node are both in the set. This is
 * the node-level (EAP-IG `level='node'`) notion; ACDC's canonical circuits are built edge by
 * edge instead (docs/tasks.md "Reference circuits"), which `Circuit.fromEdges` expresses.
 */
export function circuitFromNodes(graph: ComponentGraph, nodes: Iterable<string>, opts: CircuitFromNodesOptions = {}): Circuit {
  const set = new Set<string>();
  for (const n of nodes) {
    const key = n.trim();
    if (!graph.hasNode(key)) {
      const near = closest(key, graph.nodeKeys);
      throw new Error(`circuit: '${key}' is not a node of the graph of ${graph.describe()}${near ? ` (did you mean '${near}'?)` : ''}; nodes are input (or tok, pos), a{L}.h{H}, m{L}, logits`);
    }
    set.add(key);
  }
  if (opts.inputs ?? true) for (const s of graph.senders) if (s.layer < 0) set.add(s.key);
  if (opts.logits ?? true) set.add('logits');
  const qkv = new Set<Qkv>(opts.qkv ?? QKV);
  const idx: number[] = [];
  for (let e = 0; e < graph.nEdges; e++) {
    const r = graph.receivers[graph.edgeReceiver[e]];
    if (set.has(graph.senders[graph.edgeSender[e]].key) && set.has(r.node) && (r.qkv === null || qkv.has(r.qkv))) idx.push(e);
  }
  return Circuit.fromIndices(graph, idx);
}

/** The error for a key that is not an edge of the graph: why, and the closest valid key. */
export function edgeError(graph: ComponentGraph, key: string, source?: string): string {
  const where = `circuit: ${source ? `${source}: ` : ''}`;
  const a = key.indexOf('->');
  if (a < 0) return `${where}'${key}' is not an edge key; expected ${EDGE_FORMAT}`;
  const sender = key.slice(0, a).trim(), receiver = normalizeReceiverKey(key.slice(a + 2));
  const embedHint = (sender === 'tok' || sender === 'pos') && !graph.splitEmbed ? ` (the embedding is one sender 'input' unless the graph is built with splitEmbed)`
    : sender === 'input' && graph.splitEmbed ? ` (this graph splits the embedding into 'tok' and 'pos')`
      : sender === 'pos' && !graph.hasPos ? ` (this graph was built with pos: false)` : '';
  const reason = whyNoEdge(graph, sender, receiver)
    ?? (graph.senderIndex(sender) < 0 ? `no sender '${sender}'${parseNodeKey(sender) ? ' in this graph' : ''}${embedHint}`
      : graph.receiverIndex(receiver) < 0 ? `no receiver '${receiver}'${parseNodeKey(receiver.replace(/<[qkv]>$/, '')) ? ' in this graph' : ''}` : 'unknown edge');
  const probe = embedHint ? (graph.splitEmbed ? 'tok' : 'input') : sender;
  const near = closest(`${probe}->${receiver}`, graph.edgeKeys());
  return `${where}'${key}' is not an edge of the graph of ${graph.describe()}: ${reason}${near ? ` (did you mean '${near}'?)` : ''}; edges are written ${EDGE_FORMAT}`;
}

/** The candidate nearest to `s` by edit distance (null when nothing is reasonably close). */
function closest(s: string, candidates: readonly string[]): string | null {
  let best: string | null = null, bestD = Math.max(3, Math.ceil(s.length / 3)) + 1;
  for (const c of candidates) {
    if (Math.abs(c.length - s.length) >= bestD) continue;
    const d = editDistance(s, c, bestD);
    if (d < bestD) { bestD = d; best = c; }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once every entry of a row reaches cap. */
function editDistance(a: string, b: string, cap: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= cap) return cap;
    prev = cur;
  }
  return prev[b.length];
}
