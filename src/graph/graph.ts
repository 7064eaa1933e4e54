/**
 * The component graph (docs/graph.md; ACDC / EAP-IG convention), compiled from a ModelConfig
 * alone. The order of senders and receivers and the edge rule are the layout's (layout.ts,
 * `buildLayout`), defined there once; this class adds per-edge indices, keys and the DAG.
 *
 * Senders, in topological order (the sender index = the column of every mask and score
 * matrix): the embedding sender(s) `input` (or `tok`, `pos` with splitEmbed), then for each
 * layer L its heads `a{L}.h0 .. a{L}.h{H-1}` and then its MLP `m{L}` (none in attention-only
 * models). Head (L, h) is column nIn + L*(H+1) + h (H+1 -> H without MLPs); EAP-IG's
 * `forward_index`.
 *
 * Receivers (the receiver index = the row): for each layer L the q inputs of its H heads,
 * then the k inputs, then the v inputs, then the MLP input `m{L}`; `logits` last. Row of
 * `a{L}.h{h}<x>` = L*(3H+1) + {q:0,k:1,v:2}[x]*H + h; EAP-IG's `backward_index`. Rows group into
 * receiver groups: layer L's attention (3H rows), MLP L (1 row), logits (1 row); every sender
 * of a group lies in the columns [0, group.sendersBefore).
 *
 * Edges: `input` (and `tok`) feed every receiver; head (L, h) feeds q/k/v of layers > L, MLP L
 * and later MLPs, and logits; MLP L feeds q/k/v and MLPs of layers > L, and logits. With
 * splitEmbed, `pos` feeds every receiver too, except in shortformer models (positions added to
 * the query and key inputs only), where it feeds q and k receivers only. Without splitEmbed a
 * shortformer's `input` is the token embedding alone and the positions are a constant of the
 * q/k inputs, never patched. Edge index order is receiver-major, senders ascending within a
 * receiver (the order of `edgeKeys()` and of `Circuit.toArray()`).
 *
 * The graphology DAG (`graph.dag`) is a MultiDirectedGraph over component nodes (`input`,
 * `a0.h0`, `m0`, `logits`): MLP L is one node that is both a sender and a receiver, and one
 * head receives up to three parallel edges from one sender (its q, k and v inputs), so nodes
 * are components and the q/k/v letter lives on the edge. Edge keys are the edge names.
 *
 * Counts: `edges` is EAP-IG's / auto-circuit's count (residual edges). ACDC also counts the
 * `hook_q_input[h] -> hook_q[h]` "direct computation" edges, 3 per head: `edgesAcdc` =
 * edges + 3 * nLayers * nHeads (GPT-2 small: 32,491 and 32,923; docs/graph.md "Counts").
 */
import { MultiDirectedGraph } from 'graphology';
import type { ModelConfig } from '../model/config.js';
import { buildLayout, fullMask, type PatchLayout } from './layout.js';
import {
  QKV, normalizeReceiverKey, parseNodeKey, parseReceiverKey, receiverKey,
  type NodeKind, type Qkv, type ReceiverKind, type SenderKind,
} from './names.js';

export interface BuildGraphOptions {
  /** two embedding senders `tok` (hook_embed) and `pos` (hook_pos_embed) instead of `input` */
  splitEmbed?: boolean;
  /**
   * With splitEmbed: whether there is a `pos` sender (default true). False describes a model
   * whose positional embedding is absent (W_pos frozen at zero: the min_int and
   * majority_element toy models, whose reference graphs have no `pos`), so that edge counts
   * (ROC negatives) match. The patching engine's layout always has `pos`; move a circuit
   * there with `circuit.toGraph(splitGraph)`.
   */
  pos?: boolean;
}

export interface SenderInfo {
  readonly key: string;
  readonly index: number;
  readonly kind: SenderKind;
  /** -1 for the embedding senders */
  readonly layer: number;
  readonly head: number | null;
  /** receiver rows this sender feeds, ascending */
  readonly receivers: Int32Array;
}

export interface ReceiverInfo {
  readonly key: string;
  readonly index: number;
  /** the component node: `a2.h3` for `a2.h3<q>`, `m4`, `logits` */
  readonly node: string;
  readonly kind: ReceiverKind;
  /** nLayers for logits */
  readonly layer: number;
  readonly head: number | null;
  readonly qkv: Qkv | null;
  /** sender column of the same node (a head's output, an MLP's output); -1 for logits */
  readonly nodeSender: number;
  /** index into `graph.groups` */
  readonly group: number;
  /** sender columns feeding this receiver, ascending (a view into `edgeSender`: read only) */
  readonly senders: Int32Array;
  /** index of this receiver's first edge; its edges are firstEdge .. firstEdge + senders.length - 1 */
  readonly firstEdge: number;
}

export interface ReceiverGroup {
  readonly kind: 'attn' | 'mlp' | 'logits';
  /** nLayers for logits */
  readonly layer: number;
  /** receiver rows [start, end) */
  readonly start: number;
  readonly end: number;
  /** the group's senders all lie in columns [0, sendersBefore) */
  readonly sendersBefore: number;
}

export interface GraphCounts {
  senders: number;
  receivers: number;
  edges: number;
  edgesAcdc: number;
}

/** Attributes of a graphology node (a component). */
export interface NodeAttributes {
  kind: NodeKind;
  /** -1 for input/tok/pos, nLayers for logits */
  layer: number;
  head: number | null;
  /** sender column, -1 for logits */
  sender: number;
  /** receiver rows: q, k, v for a head, one row for an MLP or logits, none for input/tok/pos */
  receivers: readonly number[];
}

/** Attributes of a graphology edge. */
export interface EdgeAttributes {
  /** position in the graph's edge order */
  index: number;
  sender: number;
  receiver: number;
  qkv: Qkv | null;
}

export class ComponentGraph {
  readonly cfg: ModelConfig;
  /** the index scheme this graph was built from (also what the patching engine reads) */
  readonly layout: PatchLayout;
  readonly splitEmbed: boolean;
  /** whether a `pos` sender exists (splitEmbed and not `pos: false`) */
  readonly hasPos: boolean;
  readonly senders: readonly SenderInfo[];
  readonly receivers: readonly ReceiverInfo[];
  readonly groups: readonly ReceiverGroup[];
  /** component nodes in topological order: input(s), per layer heads then MLP, logits */
  readonly nodeKeys: readonly string[];
  readonly nSenders: number;
  readonly nReceivers: number;
  readonly nEdges: number;
  readonly nEdgesAcdc: number;
  /** sender column / receiver row of each edge, by edge index */
  readonly edgeSender: Int32Array;
  readonly edgeReceiver: Int32Array;
  private keyCache: readonly string[] | null = null;
  private edgeIdxCache: Map<string, number> | null = null;
  private readonly senderIdx: Map<string, number>;
  private readonly receiverIdx: Map<string, number>;
  /** [nReceivers * nSenders] -> edge index, -1 where there is no edge */
  private readonly dense: Int32Array;
  private dagCache: MultiDirectedGraph<NodeAttributes, EdgeAttributes> | null = null;

  constructor(cfg: ModelConfig, opts: BuildGraphOptions = {}) {
    // The order and the edge rule come from the layout (layout.ts), defined there once.
    const lay = buildLayout(cfg, { splitEmbed: opts.splitEmbed ?? false, pos: opts.pos });
    const NL = cfg.nLayers, H = cfg.nHeads;
    this.cfg = cfg;
    this.layout = lay;
    this.splitEmbed = lay.splitEmbed;
    this.hasPos = lay.hasPos;
    const S = lay.senders.length, R = lay.receivers.length;

    type Snd = Omit<SenderInfo, 'receivers'>;
    const senders: Snd[] = lay.senders.map((key, index) => {
      const n = parseNodeKey(key)!;
      return { key, index, kind: n.kind as SenderKind, layer: n.layer, head: n.head };
    });

    // Receiver groups: layer L's attention (its 3H q/k/v rows), MLP L (1 row), logits (1 row).
    const groups: ReceiverGroup[] = [];
    for (let l = 0; l < NL; l++) {
      groups.push({ kind: 'attn', layer: l, start: lay.attnRow(l), end: lay.attnRow(l) + 3 * H, sendersBefore: lay.sendersBeforeAttn(l) });
      if (!cfg.attnOnly) groups.push({ kind: 'mlp', layer: l, start: lay.mlpRow(l), end: lay.mlpRow(l) + 1, sendersBefore: lay.sendersBeforeMlp(l) });
    }
    groups.push({ kind: 'logits', layer: NL, start: lay.logitsRow, end: lay.logitsRow + 1, sendersBefore: S });
    const groupOf = new Int32Array(R);
    groups.forEach((g, i) => groupOf.fill(i, g.start, g.end));

    // Edges, receiver-major, senders ascending (typed arrays: GPT-2 small has 32,491 edges).
    const dense = new Int32Array(R * S).fill(-1);
    let E = 0;
    for (let r = 0; r < R; r++) for (let s = 0; s < S; s++) if (lay.hasEdge(s, r)) dense[r * S + s] = E++;
    const es = new Int32Array(E), er = new Int32Array(E);
    const firstEdge = new Int32Array(R + 1);
    const fedCount = new Int32Array(S);
    for (let r = 0, e = 0; r < R; r++) {
      firstEdge[r] = e;
      for (let s = 0; s < S; s++) if (dense[r * S + s] >= 0) { es[e] = s; er[e] = r; fedCount[s]++; e++; }
    }
    firstEdge[R] = E;
    this.receivers = Object.freeze(lay.receivers.map((key, index): ReceiverInfo => {
      const { node, qkv } = parseReceiverKey(key);
      const n = parseNodeKey(node)!;
      return Object.freeze({
        key, index, node, kind: n.kind as ReceiverKind, layer: n.kind === 'logits' ? NL : n.layer, head: n.head, qkv,
        nodeSender: lay.senderIndex.get(node) ?? -1, group: groupOf[index],
        senders: es.subarray(firstEdge[index], firstEdge[index + 1]), firstEdge: firstEdge[index],
      });
    }));
    const fed = senders.map((x) => new Int32Array(fedCount[x.index]));
    fedCount.fill(0);
    for (let e = 0; e < E; e++) fed[es[e]][fedCount[es[e]]++] = er[e];
    this.senders = Object.freeze(senders.map((x) => Object.freeze({ ...x, receivers: fed[x.index] })));
    this.groups = Object.freeze(groups.map((g) => Object.freeze(g)));
    this.nSenders = S;
    this.nReceivers = R;
    this.nEdges = E;
    this.nEdgesAcdc = E + 3 * NL * H;
    this.edgeSender = es;
    this.edgeReceiver = er;
    this.dense = dense;
    this.senderIdx = new Map(lay.senderIndex);
    this.receiverIdx = new Map(lay.receiverIndex);
    this.nodeKeys = Object.freeze([...lay.senders, 'logits']);
  }

  /** Edge keys by index, built on first use (the engine's layout never needs them). */
  private get keys(): readonly string[] {
    if (!this.keyCache) {
      const k = new Array<string>(this.nEdges);
      for (let e = 0; e < this.nEdges; e++) k[e] = `${this.senders[this.edgeSender[e]].key}->${this.receivers[this.edgeReceiver[e]].key}`;
      this.keyCache = Object.freeze(k);
    }
    return this.keyCache;
  }

  private get edgeIdx(): Map<string, number> {
    return this.edgeIdxCache ??= new Map(this.keys.map((k, i) => [k, i]));
  }

  /** The graphology DAG over component nodes (built on first use; treat it as read-only). */
  get dag(): MultiDirectedGraph<NodeAttributes, EdgeAttributes> {
    if (this.dagCache) return this.dagCache;
    const g = new MultiDirectedGraph<NodeAttributes, EdgeAttributes>();
    const rowsOf = new Map<string, number[]>();
    for (const r of this.receivers) {
      if (!rowsOf.has(r.node)) rowsOf.set(r.node, []);
      rowsOf.get(r.node)!.push(r.index);
    }
    for (const s of this.senders) g.addNode(s.key, { kind: s.kind, layer: s.layer, head: s.head, sender: s.index, receivers: rowsOf.get(s.key) ?? [] });
    g.addNode('logits', { kind: 'logits', layer: this.cfg.nLayers, head: null, sender: -1, receivers: rowsOf.get('logits') ?? [] });
    for (let e = 0; e < this.nEdges; e++) {
      const s = this.edgeSender[e], r = this.receivers[this.edgeReceiver[e]];
      g.addDirectedEdgeWithKey(this.keys[e], this.senders[s].key, r.node, { index: e, sender: s, receiver: r.index, qkv: r.qkv });
    }
    this.dagCache = g;
    return g;
  }

  counts(): GraphCounts {
    return { senders: this.nSenders, receivers: this.nReceivers, edges: this.nEdges, edgesAcdc: this.nEdgesAcdc };
  }

  /** e.g. `gpt2-small (12 layers x 12 heads, MLPs)`. */
  describe(): string {
    const c = this.cfg;
    return `${c.modelName} (${c.nLayers} layer${c.nLayers === 1 ? '' : 's'} x ${c.nHeads} head${c.nHeads === 1 ? '' : 's'}, ${c.attnOnly ? 'attention-only' : 'MLPs'}${this.splitEmbed ? (this.hasPos ? ', tok/pos split' : ', tok only') : ''})`;
  }

  /** Sender column of `a3.h2`, `m5`, `input`...; -1 when the graph has no such sender. */
  senderIndex(key: string): number {
    return this.senderIdx.get(key) ?? -1;
  }

  /** Receiver row of `a3.h2<q>` (or `a3.h2.q`), `m5`, `logits`; -1 when absent. */
  receiverIndex(key: string): number {
    return this.receiverIdx.get(key) ?? this.receiverIdx.get(normalizeReceiverKey(key)) ?? -1;
  }

  sender(key: string): SenderInfo {
    const i = this.senderIndex(key);
    if (i < 0) throw new Error(`graph: no sender '${key}' in the graph of ${this.describe()}; senders are ${this.senderRange()}`);
    return this.senders[i];
  }

  receiver(key: string): ReceiverInfo {
    const i = this.receiverIndex(key);
    if (i < 0) throw new Error(`graph: no receiver '${key}' in the graph of ${this.describe()}; receivers are ${this.receiverRange()}`);
    return this.receivers[i];
  }

  /** Edge index of a key (exact, or with `a0.h0.q` spelling); -1 when the graph has no such edge. */
  edgeIndex(key: string): number {
    const i = this.edgeIdx.get(key);
    if (i !== undefined) return i;
    const a = key.indexOf('->');
    if (a < 0) return -1;
    return this.edgeIdx.get(`${key.slice(0, a).trim()}->${normalizeReceiverKey(key.slice(a + 2))}`) ?? -1;
  }

  hasEdge(key: string): boolean {
    return this.edgeIndex(key) >= 0;
  }

  /** Edge index of (sender column, receiver row); -1 when that edge does not exist. */
  edgeAt(sender: number, receiver: number): number {
    if (sender < 0 || sender >= this.nSenders || receiver < 0 || receiver >= this.nReceivers) return -1;
    return this.dense[receiver * this.nSenders + sender];
  }

  edgeKey(index: number): string {
    const k = this.keys[index];
    if (k === undefined) throw new Error(`graph: edge index ${index} out of range [0, ${this.nEdges})`);
    return k;
  }

  /** Every edge key, in edge-index order (receiver-major). */
  edgeKeys(): readonly string[] {
    return this.keys;
  }

  /**
   * [nReceivers * nSenders] Float32Array, row-major by receiver: 1 where the edge
   * exists. The same layout as `Circuit.maskMatrix()`.
   */
  existsMask(): Float32Array {
    return fullMask(this.layout);
  }

  /** The receiver group of layer L's attention (its 3H q/k/v rows). */
  attnGroup(layer: number): ReceiverGroup {
    return this.findGroup('attn', layer);
  }

  mlpGroup(layer: number): ReceiverGroup {
    return this.findGroup('mlp', layer);
  }

  get logitsGroup(): ReceiverGroup {
    return this.groups[this.groups.length - 1];
  }

  /** Receiver rows of a component node: q, k, v rows of a head; the row of an MLP or logits; [] for the embedding. */
  nodeReceivers(node: string): number[] {
    const n = parseNodeKey(node);
    if (!n) return [];
    if (n.kind === 'head') return QKV.map((x) => this.receiverIndex(receiverKey(node, x))).filter((i) => i >= 0);
    const i = this.receiverIndex(node);
    return i >= 0 ? [i] : [];
  }

  /** Whether the graph has this component node (`input`, `a0.h1`, `m3`, `logits` ...). */
  hasNode(node: string): boolean {
    return node === 'logits' || this.senderIdx.has(node);
  }

  private findGroup(kind: 'attn' | 'mlp', layer: number): ReceiverGroup {
    const g = this.groups.find((x) => x.kind === kind && x.layer === layer);
    if (!g) throw new Error(`graph: no ${kind === 'attn' ? 'attention' : 'MLP'} receivers in layer ${layer} of ${this.describe()}`);
    return g;
  }

  private senderRange(): string {
    const c = this.cfg, last = c.nLayers - 1;
    return `${this.splitEmbed ? (this.hasPos ? 'tok, pos' : 'tok') : 'input'}, a0.h0 .. a${last}.h${c.nHeads - 1}${c.attnOnly ? '' : `, m0 .. m${last}`}`;
  }

  private receiverRange(): string {
    const c = this.cfg, last = c.nLayers - 1;
    return `a0.h0<q|k|v> .. a${last}.h${c.nHeads - 1}<q|k|v>${c.attnOnly ? '' : `, m0 .. m${last}`}, logits`;
  }
}

/** Compile a ModelConfig into its component graph. */
export function buildGraph(cfg: ModelConfig, opts: BuildGraphOptions = {}): ComponentGraph {
  return new ComponentGraph(cfg, opts);
}

/** Why no edge `sender -> receiver` exists, for error messages; null when it does exist or either end is unknown. */
export function whyNoEdge(graph: ComponentGraph, sender: string, receiver: string): string | null {
  const s = graph.senderIndex(sender), r = graph.receiverIndex(receiver);
  if (s < 0 || r < 0 || graph.edgeAt(s, r) >= 0) return null;
  const S = graph.senders[s], R = graph.receivers[r];
  if (S.kind === 'pos') return `in a shortformer model 'pos' feeds only q and k inputs`;
  if (S.kind === 'head' && R.kind === 'head' && R.layer === S.layer) return `a head does not feed the q/k/v inputs of its own layer`;
  if (S.kind === 'mlp' && R.layer === S.layer) return `an MLP feeds only later layers and the logits`;
  return `'${sender}' (layer ${S.layer}) comes after '${receiver}' (layer ${R.layer})`;
}
