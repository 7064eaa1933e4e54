/**
 * The index scheme of the component graph, defined here once (docs/graph.md). `ComponentGraph`
 * (graph.ts) is built from this layout; the patching engine reads it directly because it is
 * cheap (no per-edge objects or strings).
 *
 * Senders in topological order (the column of every mask and score matrix): the embedding
 * sender(s) (`input`, or `tok` and `pos` with splitEmbed), then for each layer its heads
 * `a{L}.h{H}` and its MLP `m{L}`; EAP-IG's `forward_index`. Receivers (the row): for each layer
 * the q inputs of its heads, then k, then v, then the MLP input `m{L}`, and finally `logits`;
 * EAP-IG's `backward_index`. An edge sender -> receiver exists when the sender is computed
 * before the receiver reads the residual stream (`hasEdge`; shortformer models' `pos` feeds q
 * and k only). A mask is a Float32Array [nReceivers * nSenders], row-major (receiver-major),
 * 1 = edge in the circuit. Entries where no edge exists are ignored.
 */
import type { ModelConfig } from '../model/config.js';
import { QKV, headKey, mlpKey, receiverKey } from './names.js';

export interface LayoutOptions {
  /** two embedding senders `tok` and `pos` instead of `input` */
  splitEmbed?: boolean;
  /**
   * With splitEmbed: whether there is a `pos` sender (default true). False describes a model
   * whose positional embedding is absent (see BuildGraphOptions.pos); the patching engine
   * always has `pos`.
   */
  pos?: boolean;
}

export interface PatchLayout {
  readonly senders: readonly string[];
  readonly receivers: readonly string[];
  readonly senderIndex: ReadonlyMap<string, number>;
  readonly receiverIndex: ReadonlyMap<string, number>;
  /** number of embedding senders (columns [0, nIn)) */
  readonly nIn: number;
  /** first receiver row of layer L's attention block (3H rows: q, k, v) */
  attnRow(layer: number): number;
  /** receiver row of MLP L */
  mlpRow(layer: number): number;
  readonly logitsRow: number;
  /** number of senders that exist before layer L's attention (columns [0, n)) */
  sendersBeforeAttn(layer: number): number;
  /** number of senders that exist before MLP L */
  sendersBeforeMlp(layer: number): number;
  /** sender column of the first head of layer L, and of MLP L */
  headCol(layer: number): number;
  mlpCol(layer: number): number;
  /** does edge sender -> receiver exist? */
  hasEdge(s: number, r: number): boolean;
  readonly splitEmbed: boolean;
  /** whether a `pos` sender exists (splitEmbed and not `pos: false`) */
  readonly hasPos: boolean;
  readonly cfg: ModelConfig;
}

/** The layout of a model; `buildLayout(cfg, true)` is short for `{ splitEmbed: true }`. */
export function buildLayout(cfg: ModelConfig, opts: boolean | LayoutOptions = false): PatchLayout {
  const o: LayoutOptions = typeof opts === 'boolean' ? { splitEmbed: opts } : opts;
  const splitEmbed = o.splitEmbed ?? false;
  if (o.pos === false && !splitEmbed) throw new Error(`graph: the option pos: false needs splitEmbed (without it the positions are part of 'input')`);
  const hasPos = splitEmbed && o.pos !== false;
  const { nLayers: NL, nHeads: H } = cfg;
  const mlp = !cfg.attnOnly;
  const inputs = splitEmbed ? (hasPos ? ['tok', 'pos'] : ['tok']) : ['input'];
  const senders: string[] = [...inputs];
  const receivers: string[] = [];
  const perLayerS = H + (mlp ? 1 : 0);
  const perLayerR = 3 * H + (mlp ? 1 : 0);
  for (let l = 0; l < NL; l++) {
    for (let h = 0; h < H; h++) senders.push(headKey(l, h));
    if (mlp) senders.push(mlpKey(l));
    for (const x of QKV) for (let h = 0; h < H; h++) receivers.push(receiverKey(headKey(l, h), x));
    if (mlp) receivers.push(mlpKey(l));
  }
  receivers.push('logits');
  const nIn = inputs.length;
  const attnRow = (l: number) => l * perLayerR;
  const mlpRow = (l: number) => l * perLayerR + 3 * H;
  const sendersBeforeAttn = (l: number) => nIn + l * perLayerS;
  const sendersBeforeMlp = (l: number) => nIn + l * perLayerS + H;
  const logitsRow = NL * perLayerR;
  const posCol = hasPos && cfg.positionalEmbeddingType === 'shortformer' ? 1 : -1;
  const hasEdge = (s: number, r: number): boolean => {
    if (s < 0 || s >= senders.length || r < 0 || r > logitsRow) return false;
    if (r === logitsRow) return s !== posCol;
    const l = Math.floor(r / perLayerR);
    const within = r - l * perLayerR;
    const isMlp = mlp && within === 3 * H;
    if (s === posCol) return !isMlp && within < 2 * H; // shortformer: pos feeds q and k only
    return s < (isMlp ? sendersBeforeMlp(l) : sendersBeforeAttn(l));
  };
  return {
    senders, receivers,
    senderIndex: new Map(senders.map((s, i) => [s, i])),
    receiverIndex: new Map(receivers.map((r, i) => [r, i])),
    nIn, attnRow, mlpRow, logitsRow, sendersBeforeAttn, sendersBeforeMlp,
    headCol: sendersBeforeAttn,
    mlpCol: sendersBeforeMlp,
    hasEdge, splitEmbed, hasPos, cfg,
  };
}

/** All edge keys `sender->receiver` of the layout, receiver-major (the ComponentGraph's edge order). */
export function layoutEdges(layout: PatchLayout): string[] {
  const out: string[] = [];
  layout.receivers.forEach((r, ri) => layout.senders.forEach((s, si) => { if (layout.hasEdge(si, ri)) out.push(`${s}->${r}`); }));
  return out;
}

/** Dense mask from edge keys; unknown keys are an error naming the key. */
export function maskFromEdges(layout: PatchLayout, edges: Iterable<string>): Float32Array {
  const S = layout.senders.length;
  const m = new Float32Array(layout.receivers.length * S);
  for (const key of edges) {
    const i = key.indexOf('->');
    const s = layout.senderIndex.get(key.slice(0, i)), r = layout.receiverIndex.get(key.slice(i + 2));
    if (i < 0 || s === undefined || r === undefined || !layout.hasEdge(s, r)) throw new Error(`patching: '${key}' is not an edge of this model's graph`);
    m[r * S + s] = 1;
  }
  return m;
}

export function fullMask(layout: PatchLayout): Float32Array {
  const S = layout.senders.length;
  const m = new Float32Array(layout.receivers.length * S);
  for (let r = 0; r < layout.receivers.length; r++) for (let s = 0; s < S; s++) if (layout.hasEdge(s, r)) m[r * S + s] = 1;
  return m;
}

/**
 * Node-level patching as a mask: every edge out of the given sender nodes (`a3.h2`, `m5`,
 * `input`) is removed, so each of them carries its ablated output everywhere downstream.
 */
export function nodeAblationMask(layout: PatchLayout, nodes: Iterable<string>): Float32Array {
  const m = fullMask(layout);
  const S = layout.senders.length;
  for (const n of nodes) {
    const s = layout.senderIndex.get(n);
    if (s === undefined) throw new Error(`patching: '${n}' is not a sender node of this model (e.g. a0.h1, m2, input)`);
    for (let r = 0; r < layout.receivers.length; r++) m[r * S + s] = 0;
  }
  return m;
}
