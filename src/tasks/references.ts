/**
 * Hand-found ("canonical") circuits as edge sets over the component graph (src/graph/layout.ts),
 * built the way ACDC builds its ROC ground truths (docs/tasks.md "Reference circuits"):
 * IOI (Wang et al. 2023; 26 heads), Greater-Than (Hanna et al. 2023) and Docstring (Heimersheim
 * & Janiak 2023), plus the shared toy models' published circuits, which are read from the
 * reference_circuit.json next to each model when asked for (never copied into the repo).
 *
 * Two counts. Our graph has no q/k/v "DIRECT" edges (ACDC's `hook_q_input[h] -> hook_q[h]`):
 * a head's q input is a receiver and its output a sender, so the edge count here is ACDC's
 * count minus the DIRECT edges. `acdcCount` adds one DIRECT edge for every head input that
 * receives at least one edge, which is what ACDC's constructions keep (IOI: all 26 x 3 = 78;
 * Greater-Than: 27; Docstring: 13), giving ACDC's published 1,041 / 262 / 37.
 *
 * Names: ACDC's `blocks.0.hook_resid_pre` is our `input` (`tok` + `pos` with splitEmbed),
 * `hook_mlp_out` / `hook_mlp_in` of layer l are the sender / receiver `m{l}`,
 * `hook_{q,k,v}_input[h]` of layer l is `a{l}.h{h}<q|k|v>`, `resid_post` is `logits`.
 */
import { presetConfig, resolveConfigJson, type ModelConfig } from '../model/config.js';
import { buildLayout, layoutEdges, type PatchLayout } from '../graph/layout.js';
import { normalizeReceiverKey, splitEdge } from '../graph/names.js';
import { readSharedModelFile } from './shared-models.js';

export interface ReferenceCircuit {
  /** what it is and where it comes from */
  readonly name: string;
  readonly source: string;
  /** the model shape whose graph the edges belong to */
  readonly cfg: ModelConfig;
  readonly splitEmbed: boolean;
  /** edge keys `sender->receiver` of `buildLayout(cfg, splitEmbed)` */
  readonly edges: ReadonlySet<string>;
  /** ACDC's count of the same circuit: edges + one q/k/v DIRECT edge per head input used */
  readonly acdcCount: number;
  /** edges the authors were unsure about (not in `edges`) */
  readonly uncertain: ReadonlySet<string>;
}

type Head = readonly [layer: number, head: number];
const QKV = ['q', 'k', 'v'] as const;
type Qkv = (typeof QKV)[number];

const headName = ([l, h]: Head) => `a${l}.h${h}`;
const edge = (s: string, r: string) => `${s}->${r}`;

/** Layer of a sender or receiver name: input/tok/pos -1, a{l}.* / m{l} l, logits +Infinity. */
export function nodeLayer(name: string): number {
  if (name === 'input' || name === 'tok' || name === 'pos') return -1;
  if (name === 'logits') return Infinity;
  const m = /^(?:a|m)(\d+)/.exec(name);
  if (!m) throw new Error(`references: cannot tell the layer of node '${name}'`);
  return Number(m[1]);
}

/** Head input receivers (`a{l}.h{h}<x>`) that receive at least one edge: ACDC's DIRECT edges. */
export function directEdgeCount(edges: Iterable<string>): number {
  const rs = new Set<string>();
  for (const e of edges) {
    const r = e.slice(e.indexOf('->') + 2);
    if (/<[qkv]>$/.test(r)) rs.add(r);
  }
  return rs.size;
}

export function acdcEdgeCount(edges: ReadonlySet<string> | readonly string[]): number {
  const arr = [...edges];
  return arr.length + directEdgeCount(arr);
}

function kind(node: string, side: 'sender' | 'receiver'): 'embed' | 'head' | 'mlp' | 'logits' {
  if (node === 'input' || node === 'tok' || node === 'pos') return 'embed';
  if (node === 'logits') return 'logits';
  if (/^a\d+\.h\d+/.test(node)) return 'head';
  if (/^m\d+$/.test(node)) return 'mlp';
  throw new Error(`references: unknown ${side} '${node}'`);
}

/**
 * Edge counts by sender kind -> receiver kind (`embed`, `head`, `mlp`, `logits`) plus `direct`
 * (ACDC's q/k/v DIRECT edges): the composition tables of docs/tasks.md "Reference circuits".
 */
export function composition(edges: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  const list = [...edges];
  for (const e of list) {
    const i = e.indexOf('->');
    const k = `${kind(e.slice(0, i), 'sender')}->${kind(e.slice(i + 2), 'receiver')}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  out.direct = directEdgeCount(list);
  return out;
}

function checked(layout: PatchLayout, edges: Iterable<string>, what: string): Set<string> {
  const all = new Set(layoutEdges(layout));
  const out = new Set<string>();
  for (const e of edges) {
    if (!all.has(e)) throw new Error(`references: ${what}: '${e}' is not an edge of the ${layout.cfg.modelName} graph`);
    out.add(e);
  }
  return out;
}

function make(name: string, source: string, cfg: ModelConfig, splitEmbed: boolean, edges: Iterable<string>, uncertain: Iterable<string> = []): ReferenceCircuit {
  const layout = buildLayout(cfg, splitEmbed);
  const set = checked(layout, edges, name);
  return Object.freeze({
    name, source, cfg, splitEmbed,
    edges: set,
    acdcCount: acdcEdgeCount(set),
    uncertain: checked(layout, uncertain, `${name} (uncertain)`),
  });
}

// ---------------------------------------------------------------------------------------------
// IOI (ACDC acdc/ioi/utils.py::IOI_CIRCUIT, get_ioi_true_edges; docs/tasks.md "Reference circuits")

export const IOI_HEAD_GROUPS: Readonly<Record<string, readonly Head[]>> = Object.freeze({
  'name mover': [[9, 9], [10, 0], [9, 6]],
  'backup name mover': [[10, 10], [10, 6], [10, 2], [10, 1], [11, 2], [9, 7], [9, 0], [11, 9]],
  'negative': [[10, 7], [11, 10]],
  's2 inhibition': [[7, 3], [7, 9], [8, 6], [8, 10]],
  'induction': [[5, 5], [5, 8], [5, 9], [6, 9]],
  'duplicate token': [[0, 1], [0, 10], [3, 0]],
  'previous token': [[2, 2], [4, 11]],
});

/**
 * ACDC's position-agnostic IOI ground truth on GPT-2 small:
 * 1. from the full graph, drop every head outside the 26 (its inputs and outputs);
 * 2. for each circuit head drop its inputs from `input` and from all heads, and its edge to
 *    the logits (MLP -> head and head -> MLP edges stay);
 * 3. add the special connections, where INPUT = `input` + every MLP output and OUTPUT =
 *    `logits` + every MLP input, each edge only when the receiver's layer is above the sender's.
 * Our count 963; ACDC's 1,041 (+ 78 DIRECT).
 */
export function ioiReference(cfg: ModelConfig = presetConfig('gpt2-small')): ReferenceCircuit {
  const layout = buildLayout(cfg, false);
  const g = IOI_HEAD_GROUPS;
  const circuit = new Set(Object.values(g).flat().map(headName));
  if (circuit.size !== 26) throw new Error(`references: IOI has ${circuit.size} heads, expected 26`);
  for (const h of circuit) if (!layout.senderIndex.has(h)) throw new Error(`references: IOI head ${h} is not in the ${cfg.modelName} graph`);
  const headOf = (n: string) => /^a\d+\.h\d+/.exec(n)?.[0] ?? null;
  const edges = new Set<string>();
  for (const e of layoutEdges(layout)) {
    const i = e.indexOf('->');
    const s = e.slice(0, i), r = e.slice(i + 2);
    const sh = headOf(s), rh = headOf(r);
    if (sh && !circuit.has(sh)) continue; // step 1: non-circuit head outputs
    if (rh && !circuit.has(rh)) continue; // step 1: non-circuit head inputs
    if (rh && (s === 'input' || sh)) continue; // step 2: input/head -> circuit head inputs
    if (sh && r === 'logits') continue; // step 2: circuit head -> logits
    edges.add(e);
  }
  const mlps = Array.from({ length: cfg.attnOnly ? 0 : cfg.nLayers }, (_, l) => `m${l}`);
  const INPUT = ['input', ...mlps];
  const OUTPUT = ['logits', ...mlps];
  const heads = (...groups: string[]) => groups.flatMap((k) => g[k].map(headName));
  const movers = heads('negative', 'name mover', 'backup name mover');
  const add = (senders: string[], receivers: string[], xs: readonly Qkv[] | null) => {
    for (const s of senders) for (const r of receivers) {
      const rs = xs === null ? [r] : xs.map((x) => `${r}<${x}>`);
      for (const rr of rs) if (nodeLayer(rr.replace(/<.>$/, '')) > nodeLayer(s)) edges.add(edge(s, rr));
    }
  };
  add(INPUT, heads('previous token'), QKV);
  add(INPUT, heads('duplicate token'), QKV);
  add(INPUT, heads('s2 inhibition'), ['q']);
  add(INPUT, movers, ['k', 'v']);
  add(heads('previous token'), heads('induction'), ['k', 'v']);
  add(heads('induction'), heads('s2 inhibition'), ['k', 'v']);
  add(heads('duplicate token'), heads('s2 inhibition'), ['k', 'v']);
  add(heads('s2 inhibition'), movers, ['q']);
  add(movers, OUTPUT, null);
  return make('ioi', 'Wang et al. 2023, as ACDC builds it (acdc/ioi/utils.py get_ioi_true_edges)', cfg, false, edges);
}

// ---------------------------------------------------------------------------------------------
// Greater-Than (ACDC acdc/greaterthan/utils.py::CIRCUIT, get_greaterthan_true_edges; §3.3)

export const GREATER_THAN_GROUPS = Object.freeze({
  '0305': [[0, 3], [0, 5]] as readonly Head[],
  '01': [[0, 1]] as readonly Head[],
  MEARLY: [0, 1, 2, 3] as readonly number[],
  AMID: [[5, 5], [6, 1], [6, 9], [7, 10], [8, 11], [9, 1]] as readonly Head[],
  MLATE: [8, 9, 10, 11] as readonly number[],
});

/**
 * From an empty graph: `input` -> q/k/v of 0305 and 01 and -> MEARLY; AMID and MLATE -> logits;
 * MLP -> MLP within MEARLY and within MLATE; the group pairs 01->MEARLY, 01->AMID, 0305->AMID,
 * MEARLY->AMID, AMID->MLATE (sender layer below the receiver's, or a head into its own layer's
 * MLP; all of q/k/v); plus every MLP l -> MLP l' for l < l' < 9 and every MLP below an AMID
 * head -> that head's q (Hanna et al. keep AMID queries clean). Our count 235; ACDC's 262.
 */
export function greaterThanReference(cfg: ModelConfig = presetConfig('gpt2-small')): ReferenceCircuit {
  const G = GREATER_THAN_GROUPS;
  const edges = new Set<string>();
  const mlp = (l: number) => `m${l}`;
  // a group member as [sender name, layer, isHead]
  type Node = { name: string; layer: number; head: boolean };
  const hs = (xs: readonly Head[]): Node[] => xs.map((h) => ({ name: headName(h), layer: h[0], head: true }));
  const ms = (xs: readonly number[]): Node[] => xs.map((l) => ({ name: mlp(l), layer: l, head: false }));
  const connect = (from: Node[], to: Node[]) => {
    for (const s of from) for (const r of to) {
      if (r.head) {
        if (s.layer < r.layer) for (const x of QKV) edges.add(edge(s.name, `${r.name}<${x}>`));
      } else if (s.layer < r.layer || (s.head && s.layer === r.layer)) edges.add(edge(s.name, r.name));
    }
  };
  for (const h of [...hs(G['0305']), ...hs(G['01'])]) for (const x of QKV) edges.add(edge('input', `${h.name}<${x}>`));
  for (const l of G.MEARLY) edges.add(edge('input', mlp(l)));
  for (const h of hs(G.AMID)) edges.add(edge(h.name, 'logits'));
  for (const l of G.MLATE) edges.add(edge(mlp(l), 'logits'));
  for (const grp of [G.MEARLY, G.MLATE]) for (const a of grp) for (const b of grp) if (a < b) edges.add(edge(mlp(a), mlp(b)));
  connect(hs(G['01']), ms(G.MEARLY));
  connect(hs(G['01']), hs(G.AMID));
  connect(hs(G['0305']), hs(G.AMID));
  connect(ms(G.MEARLY), hs(G.AMID));
  connect(hs(G.AMID), ms(G.MLATE));
  const maxAmid = Math.max(...G.AMID.map((h) => h[0]));
  for (let a = 0; a < maxAmid; a++) for (let b = a + 1; b < maxAmid; b++) edges.add(edge(mlp(a), mlp(b)));
  for (const [l, h] of G.AMID) for (let m = 0; m < l; m++) edges.add(edge(mlp(m), `${headName([l, h])}<q>`));
  return make('greater-than', 'Hanna et al. 2023, as ACDC builds it (acdc/greaterthan/utils.py get_greaterthan_true_edges)', cfg, false, edges);
}

// ---------------------------------------------------------------------------------------------
// Docstring (ACDC acdc/docstring/utils.py::get_docstring_subgraph_true_edges; §3.4)

/** [receiver head, q senders, k senders, v senders]; 'emb' = the embedding (`input`). */
export const DOCSTRING_HEADS: readonly (readonly [string, readonly string[], readonly string[], readonly string[]])[] = Object.freeze([
  ['0.5', [], [], ['emb']],
  ['1.4', [], [], ['emb', '0.5']],
  ['1.2', ['emb', '0.5'], ['emb', '0.5'], []],
  ['2.0', ['emb', '0.5'], ['emb', '0.5'], ['1.4']],
  ['3.0', ['1.4'], ['2.0', '1.2'], ['emb', '0.5']],
  ['3.6', ['1.4'], ['2.0', '1.2'], ['emb', '0.5']],
]);

/** Heimersheim & Janiak's docstring circuit on attn-only-4l ("from Stefan"). Our count 24; ACDC's 37. */
export function docstringReference(cfg: ModelConfig = presetConfig('attn-only-4l')): ReferenceCircuit {
  const node = (x: string) => (x === 'emb' ? 'input' : `a${x.replace('.', '.h')}`);
  const edges = new Set<string>();
  for (const [h, q, k, v] of DOCSTRING_HEADS) {
    [q, k, v].forEach((ss, i) => { for (const s of ss) edges.add(edge(node(s), `${node(h)}<${QKV[i]}>`)); });
  }
  edges.add(edge(node('3.0'), 'logits'));
  edges.add(edge(node('3.6'), 'logits'));
  return make('docstring', 'Heimersheim & Janiak 2023, as ACDC builds it (acdc/docstring/utils.py get_docstring_subgraph_true_edges)', cfg, false, edges);
}

// ---------------------------------------------------------------------------------------------
// Toy models (<shared model dir>/reference_circuit.json, found by resolveSharedModel, read at call time)

/** `a0.h0.q` -> `a0.h0<q>`; other names unchanged. */
export function convertToyEdge(e: string): string {
  if (e.indexOf('->') < 0) throw new Error(`references: '${e}' is not an edge 'sender->receiver'`);
  const [sender, receiver] = splitEdge(e);
  return `${sender}->${normalizeReceiverKey(receiver)}`;
}

interface ToyReferenceJson { circuit_edges?: unknown; uncertain_edges?: unknown; source?: unknown; model?: unknown }

/**
 * The published circuit of shared toy model `dir` (e.g. 'permute_lists') over the splitEmbed
 * layout of its config.json, or null when the shared folder or its reference_circuit.json is
 * not there. A malformed file or an edge outside the graph is an error naming the file.
 */
export function toyReference(dir: string, env?: Record<string, string | undefined>): ReferenceCircuit | null {
  let ref: { text: string; path: string } | null, cfgFile: { text: string; path: string } | null;
  try {
    ref = readSharedModelFile(dir, 'reference_circuit.json', env);
    cfgFile = ref && readSharedModelFile(dir, 'config.json', env);
  } catch (e) {
    throw new Error(`references: ${dir}: ${(e as Error).message}`);
  }
  if (!ref || !cfgFile) return null;
  return toyReferenceFromJson(dir, ref.text, cfgFile.text, ref.path, cfgFile.path);
}

/**
 * The published circuit of toy model `dir` from the texts of its reference_circuit.json and
 * config.json (`file` / `cfgFile` name them in errors and in the circuit's source).
 */
export function toyReferenceFromJson(dir: string, refText: string, cfgText: string, file: string, cfgFile: string): ReferenceCircuit {
  let json: ToyReferenceJson;
  let cfg: ModelConfig;
  try {
    json = JSON.parse(refText) as ToyReferenceJson;
    cfg = resolveConfigJson(JSON.parse(cfgText), cfgFile);
  } catch (e) {
    throw new Error(`references: ${file}: ${(e as Error).message}`);
  }
  const list = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`references: ${file}: '${field}' must be an array of edge strings`);
    return (v as string[]).map(convertToyEdge);
  };
  if (json.circuit_edges === undefined) throw new Error(`references: ${file}: no 'circuit_edges'`);
  const src = typeof json.source === 'string' ? `${json.source} (ckkissane/mech-interp-practice), read from ${file}` : file;
  return make(`${dir} (published circuit)`, src, cfg, true, list(json.circuit_edges, 'circuit_edges'), list(json.uncertain_edges, 'uncertain_edges'));
}
