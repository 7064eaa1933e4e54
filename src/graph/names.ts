/**
 * Names of graph nodes and edges (the EAP-IG / MIB vocabulary) and their link to
 * TransformerLens hook names.
 *
 * Nodes: `input` (or `tok` and `pos` when the embedding is split), `a{L}.h{H}`, `m{L}`,
 * `logits`. A sender is named by its node. A receiver is named by its node, plus `<q>`, `<k>`
 * or `<v>` for a head's query, key and value inputs: `a2.h3<q>`, `m4`, `logits`.
 * Edges are `"<sender>-><receiver>"`: `a0.h1->a2.h3<q>`, `m4->logits`, `input->m0`.
 *
 * On import the toy reference circuits' spelling `a0.h0.q` is accepted for `a0.h0<q>`
 * (see `normalizeEdgeKey`); everything this module writes uses the `<q>` form.
 */
import { hook } from '../model/hook-names.js';

export type Qkv = 'q' | 'k' | 'v';
export const QKV: readonly Qkv[] = Object.freeze(['q', 'k', 'v'] as const);

export type NodeKind = 'input' | 'tok' | 'pos' | 'head' | 'mlp' | 'logits';
export type SenderKind = Exclude<NodeKind, 'logits'>;
export type ReceiverKind = 'head' | 'mlp' | 'logits';

/** A parsed node key. */
export interface NodeName {
  readonly kind: NodeKind;
  /** -1 for input/tok/pos, L for a{L}.h{H} and m{L}, Infinity for logits (a ComponentGraph gives it nLayers) */
  readonly layer: number;
  readonly head: number | null;
}

export interface EdgeName {
  /** normalised key `sender->receiver` */
  readonly key: string;
  readonly sender: string;
  readonly receiver: string;
  /** the node the receiver belongs to (`a2.h3<q>` -> `a2.h3`) */
  readonly receiverNode: string;
  readonly qkv: Qkv | null;
}

const HEAD_RE = /^a(\d+)\.h(\d+)$/;
const MLP_RE = /^m(\d+)$/;
const RECEIVER_RE = /^(.*?)(?:<([qkv])>|\.([qkv]))$/;

export const EDGE_FORMAT = `'<sender>-><receiver>', e.g. 'a0.h1->a2.h3<q>', 'm4->logits', 'input->m0'`;

/** Parse `input`, `tok`, `pos`, `a3.h2`, `m5` or `logits`; null when it is none of these. */
export function parseNodeKey(key: string): NodeName | null {
  if (key === 'input' || key === 'tok' || key === 'pos') return { kind: key, layer: -1, head: null };
  if (key === 'logits') return { kind: 'logits', layer: Infinity, head: null };
  const h = HEAD_RE.exec(key);
  if (h) return { kind: 'head', layer: Number(h[1]), head: Number(h[2]) };
  const m = MLP_RE.exec(key);
  if (m) return { kind: 'mlp', layer: Number(m[1]), head: null };
  return null;
}

export function headKey(layer: number, head: number): string {
  return `a${layer}.h${head}`;
}

export function mlpKey(layer: number): string {
  return `m${layer}`;
}

/** `receiverKey('a2.h3', 'q')` = `a2.h3<q>`; `receiverKey('m4')` = `m4`. */
export function receiverKey(node: string, qkv: Qkv | null = null): string {
  return qkv ? `${node}<${qkv}>` : node;
}

/** Normalise a receiver name: `a0.h0.q` -> `a0.h0<q>`; others unchanged (trimmed). */
export function normalizeReceiverKey(receiver: string): string {
  const r = receiver.trim();
  const m = RECEIVER_RE.exec(r);
  if (m && HEAD_RE.test(m[1])) return `${m[1]}<${m[2] ?? m[3]}>`;
  return r;
}

/** Split a receiver name into its node and q/k/v (null for MLP and logits receivers). */
export function parseReceiverKey(receiver: string): { node: string; qkv: Qkv | null } {
  const r = normalizeReceiverKey(receiver);
  const m = RECEIVER_RE.exec(r);
  if (m) return { node: m[1], qkv: (m[2] ?? m[3]) as Qkv };
  return { node: r, qkv: null };
}

/** The node a receiver belongs to: `a3.h2<q>` -> `a3.h2`, `m4` -> `m4`, `logits` -> `logits`. */
export function receiverNode(receiver: string): string {
  // Fast path for the spellings this program writes (hot in selection and evaluation loops);
  // the same answer as parseReceiverKey: `X<q>` -> `X`; a name without a `<x>` / `.x` ending
  // or surrounding spaces -> itself.
  const n = receiver.length;
  const first = receiver.charCodeAt(0), last = receiver.charCodeAt(n - 1);
  if (first >= 97 && first <= 122) {
    if (last === 62 && n > 3 && receiver.charCodeAt(n - 3) === 60 && isQkvCode(receiver.charCodeAt(n - 2))) return receiver.slice(0, n - 3);
    if (last > 32 && last < 127 && last !== 62 && !(isQkvCode(last) && receiver.charCodeAt(n - 2) === 46)) return receiver;
  }
  return parseReceiverKey(receiver).node;
}

/** q, k or v */
function isQkvCode(c: number): boolean {
  return c === 113 || c === 107 || c === 118;
}

/**
 * Split an edge key at `->` into [sender, receiver], as written (no trimming, no checks of
 * the two names): the fast split for keys this program wrote. `parseEdgeKey` builds on it.
 */
export function splitEdge(key: string): [string, string] {
  const i = key.indexOf('->');
  if (i < 0) throw new Error(`graph: '${key}' is not an edge key; expected ${EDGE_FORMAT}`);
  return [key.slice(0, i), key.slice(i + 2)];
}

/**
 * Parse an edge key, accepting `a0.h0.q` for `a0.h0<q>` and spaces around `->`. Checks the
 * syntax of both ends (a known node kind), not that the edge exists in some graph.
 */
export function parseEdgeKey(key: string): EdgeName {
  const [rawSender, rawReceiver] = splitEdge(key);
  const sender = rawSender.trim();
  const receiver = normalizeReceiverKey(rawReceiver);
  const { node, qkv } = parseReceiverKey(receiver);
  const s = parseNodeKey(sender), r = parseNodeKey(node);
  if (!s || s.kind === 'logits') throw new Error(`graph: '${key}' has no valid sender ('${sender}'); senders are input, tok, pos, a{L}.h{H}, m{L}; expected ${EDGE_FORMAT}`);
  if (!r || r.kind === 'input' || r.kind === 'tok' || r.kind === 'pos') throw new Error(`graph: '${key}' has no valid receiver ('${receiver}'); receivers are a{L}.h{H}<q|k|v>, m{L}, logits; expected ${EDGE_FORMAT}`);
  if (r.kind === 'head' && !qkv) throw new Error(`graph: '${key}': a head receiver needs <q>, <k> or <v> ('${node}<q>'); expected ${EDGE_FORMAT}`);
  if (r.kind !== 'head' && qkv) throw new Error(`graph: '${key}': only heads have q/k/v receivers ('${node}'); expected ${EDGE_FORMAT}`);
  return { key: `${sender}->${receiver}`, sender, receiver, receiverNode: node, qkv };
}

/**
 * Topological order of component node keys without a graph (ComponentGraph.nodeKeys' order):
 * the embedding (`input`, `tok`, then `pos`), then per layer its heads by index and its MLP,
 * then `logits`; unknown names before `logits`, ties by name.
 */
export function nodeOrder(a: string, b: string): number {
  const x = nodeRank(a), y = nodeRank(b);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || (a < b ? -1 : a > b ? 1 : 0);
}

function nodeRank(n: string): [number, number, number] {
  const p = parseNodeKey(n);
  if (!p) return [1e8, 0, 0];
  if (p.kind === 'logits') return [1e9, 0, 0];
  if (p.layer < 0) return [-1, p.kind === 'pos' ? 1 : 0, 0];
  return [p.layer, p.kind === 'mlp' ? 1 : 0, p.head ?? 0];
}

/** `normalizeEdgeKey('a0.h0->a1.h0.v')` = `a0.h0->a1.h0<v>`; throws on a malformed key. */
export function normalizeEdgeKey(key: string): string {
  return parseEdgeKey(key).key;
}

// ---------------------------------------------------------------------------------------------
// TransformerLens hook names

/** A TransformerLens activation: hook name plus the head index along dim 2 (`[:, :, h]`), if any. */
export interface HookPoint {
  readonly name: string;
  readonly head: number | null;
}

/** ACDC's spelling: `blocks.3.attn.hook_result[:, :, 2]`, `blocks.5.hook_mlp_out` (no index for whole tensors). */
export function formatHookPoint(p: HookPoint): string {
  return p.head === null ? p.name : `${p.name}[:, :, ${p.head}]`;
}

export function parseHookPoint(s: string): HookPoint {
  const m = /^(.*?)\s*(?:\[\s*:\s*,\s*:\s*,\s*(\d+)\s*\]|\[\s*:\s*\])?$/.exec(s.trim());
  if (!m) throw new Error(`graph: '${s}' is not a hook point`);
  return { name: m[1], head: m[2] === undefined ? null : Number(m[2]) };
}

/** The activation a sender writes: input = `blocks.0.hook_resid_pre`, tok = `hook_embed`, pos = `hook_pos_embed`, a{L}.h{H} = `blocks.L.attn.hook_result[:, :, H]`, m{L} = `blocks.L.hook_mlp_out`. */
export function senderHook(key: string): HookPoint {
  const n = parseNodeKey(key);
  if (!n || n.kind === 'logits') throw new Error(`graph: '${key}' is not a sender`);
  switch (n.kind) {
    case 'input': return { name: hook.residPre(0), head: null };
    case 'tok': return { name: hook.embed, head: null };
    case 'pos': return { name: hook.posEmbed, head: null };
    case 'head': return { name: hook.result(n.layer), head: n.head };
    case 'mlp': return { name: hook.mlpOut(n.layer), head: null };
  }
}

/** The activation a receiver reads: a{L}.h{H}<q> = `blocks.L.hook_q_input[:, :, H]` (k, v alike), m{L} = `blocks.L.hook_mlp_in`, logits = `blocks.{nLayers-1}.hook_resid_post`. */
export function receiverHook(receiver: string, nLayers: number): HookPoint {
  const { node, qkv } = parseReceiverKey(receiver);
  const n = parseNodeKey(node);
  if (!n || n.kind === 'input' || n.kind === 'tok' || n.kind === 'pos') throw new Error(`graph: '${receiver}' is not a receiver`);
  if (n.kind === 'logits') return { name: hook.residPost(nLayers - 1), head: null };
  if (n.kind === 'mlp') return { name: hook.mlpIn(n.layer), head: null };
  if (!qkv) throw new Error(`graph: '${receiver}': a head receiver needs <q>, <k> or <v>`);
  const name = qkv === 'q' ? hook.qInput(n.layer) : qkv === 'k' ? hook.kInput(n.layer) : hook.vInput(n.layer);
  return { name, head: n.head };
}

/**
 * Inverse of senderHook / receiverHook: which graph name a TransformerLens activation is.
 * Accepts `blocks.3.attn.hook_result[:, :, 2]` or a HookPoint. `blocks.{nLayers-1}.hook_resid_post`
 * is the logits receiver; `blocks.0.hook_resid_pre` the input sender.
 */
export function fromHook(point: string | HookPoint, nLayers: number): { role: 'sender' | 'receiver'; key: string } | null {
  const p = typeof point === 'string' ? parseHookPoint(point) : point;
  const { name, head } = p;
  if (name === hook.residPre(0) && head === null) return { role: 'sender', key: 'input' };
  if (name === hook.embed && head === null) return { role: 'sender', key: 'tok' };
  if (name === hook.posEmbed && head === null) return { role: 'sender', key: 'pos' };
  if (name === hook.residPost(nLayers - 1) && head === null) return { role: 'receiver', key: 'logits' };
  const m = /^blocks\.(\d+)\.(attn\.hook_result|hook_mlp_out|hook_mlp_in|hook_q_input|hook_k_input|hook_v_input)$/.exec(name);
  if (!m) return null;
  const l = Number(m[1]);
  if (l >= nLayers) return null;
  switch (m[2]) {
    case 'attn.hook_result': return head === null ? null : { role: 'sender', key: headKey(l, head) };
    case 'hook_mlp_out': return head === null ? { role: 'sender', key: mlpKey(l) } : null;
    case 'hook_mlp_in': return head === null ? { role: 'receiver', key: mlpKey(l) } : null;
    default: {
      if (head === null) return null;
      const qkv = m[2][5] as Qkv;
      return { role: 'receiver', key: receiverKey(headKey(l, head), qkv) };
    }
  }
}
