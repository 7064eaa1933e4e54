/**
 * Circuits to and from files, one reader and one writer per format (docs/graph.md "Files"):
 * the circuit JSON (this module writes its graph part and passes the rest through; `discover`
 * writes it as a `CircuitFile`), the EAP-IG / MIB graph JSON, Graphviz DOT, and the toy
 * models' reference circuits (`reference_circuit.json`: `circuit_edges` in the `a0.h0.q`
 * spelling).
 *
 * Each format is read and written on plain edge lists (`CircuitEdge`: from, to, score,
 * inCircuit), without a graph: `readCircuitJson`, `mibJson`, `dotOf`. The graph-bound
 * functions (`circuitFromJson`, `circuitToMib`, `circuitToDot` ...) check the edges against a
 * ComponentGraph and convert to and from `Circuit`; the `CircuitFile` ones (`toMib`, `toDot`)
 * take discover's output file as it is.
 *
 * EAP-IG / MIB graph JSON (EAP-IG `Graph.to_json` / `from_json`):
 *   { "cfg": { "n_layers", "n_heads", "parallel_attn_mlp", "d_model", ... },
 *     "nodes": { "input": {"in_graph": true}, "a0.h1": {...}, "m0": {...}, "logits": {...} },
 *     "edges": { "a0.h1->a2.h3<q>": { "score": 0.12, "in_graph": true }, ... } }
 * Every node and edge of the graph is listed. Current EAP-IG writes each node as
 * `{ "in_graph": bool }` (and reads only that form); older EAP-IG versions wrote a bare bool.
 * We write the object form by default (`nodes: 'bool'` for the old one) and read both.
 */
import { fmtNum } from '../util/format.js';
import type { ComponentGraph } from './graph.js';
import { Circuit, edgeError } from './circuit.js';
import { EDGE_FORMAT, nodeOrder, normalizeReceiverKey, parseNodeKey, parseReceiverKey, receiverNode, splitEdge } from './names.js';

/** Edge scores: by edge key, or by edge index (graph order; NaN = not scored). */
export type EdgeScores = ReadonlyMap<string, number> | ArrayLike<number>;

/** One edge of a circuit file. */
export interface CircuitEdge {
  /** sender key: `input`, `tok`, `pos`, `a0.h1`, `m3` */
  from: string;
  /** receiver key: `a2.h3<q>`, `m4`, `logits` */
  to: string;
  score: number | null;
  inCircuit: boolean;
}

export interface CircuitResults {
  metric: string;
  /** task metric on the clean run, the fully ablated run and the circuit */
  clean: number;
  corrupted: number;
  circuit: number;
  /** (m(C) - m(empty)) / (m(M) - m(empty)); null when clean == corrupted */
  faithfulness: number | null;
  klCircuit: number;
  edgesKept: number;
  edgesTotal: number;
  /** edges the selection picked that were then pruned: not on any input-to-logits path */
  danglingPruned?: number;
  /**
   * top-n (connected selection, `selectConnected`): `asked` edges were asked for; the best
   * `taken` edges by score were taken, of which `kept` lie on input-to-logits paths (the
   * circuit). kept >= asked unless fewer edges connect; kept = 0 means an empty circuit.
   */
  selection?: { asked: number; taken: number; kept: number };
  /** seconds of discovery (from the prompts to the measured circuit; no model load, no report) */
  seconds: number;
  /** the CLI's wall time per stage (load model, setup, method, evaluation, report, ...) and in total */
  wall?: { stages: Record<string, number>; total: number };
  /** of which the method itself (setup, clean reference and the evaluation excluded) */
  methodSeconds?: number;
  /** attribution methods: of which the forward + backward passes and score contractions */
  attributionSeconds?: number;
  /** ACDC over candidates: the scoring method, the candidate set's size K, the scoring's seconds */
  candidates?: { method: string; k: number; seconds: number };
  forwards: number;
  backwards: number;
}

/** The circuit file `discover` writes: the circuit JSON with every field filled in. */
export interface CircuitFile {
  format: 'circuitscope-circuit';
  version: 1;
  model: string;
  modelConfig: { nLayers: number; nHeads: number; dModel: number; attnOnly: boolean };
  task: string;
  method: string;
  /** the selection as it ran: ACDC's threshold, or a score method's threshold or top-n (defaults filled in) */
  threshold: number | null;
  topN: number | null;
  /** top-n grown greedily from the logits */
  greedy?: boolean;
  metric: string;
  ablation: string;
  splitEmbed: boolean;
  n: number;
  seed: number;
  backend: string;
  processing: string[];
  createdAt: string;
  nodes: string[];
  edges: CircuitEdge[];
  results: CircuitResults;
}

/** The graph part of a circuit file, plus whatever metadata the caller passed (model, task, method, threshold, metric, createdAt, results ...). */
export interface CircuitJson {
  format: 'circuitscope-circuit';
  version: 1;
  splitEmbed: boolean;
  modelConfig: { nLayers: number; nHeads: number; dModel: number; attnOnly: boolean };
  nodes: string[];
  edges: CircuitEdge[];
  [meta: string]: unknown;
}

export interface CircuitJsonOptions {
  scores?: EdgeScores;
  /** list only the circuit's edges, or every edge of the graph with its inCircuit flag; default: 'all' when scores are given, else 'circuit' */
  edges?: 'circuit' | 'all';
  /** model, task, method, threshold, metric, createdAt, results, ... (written as given; the docs/graph.md order first) */
  meta?: Record<string, unknown>;
}

export interface ReadCircuit {
  circuit: Circuit;
  /** scores by (normalised) edge key, for the edges that had one */
  scores: Map<string, number>;
  /** the file's other fields (circuit file: model, task, method ...; MIB: { cfg }) */
  meta: Record<string, unknown>;
}

const META_ORDER = ['model', 'task', 'method', 'threshold', 'metric', 'createdAt'];

function scoreOf(graph: ComponentGraph, scores: EdgeScores | undefined, e: number): number | null {
  if (!scores) return null;
  const v = isMap(scores) ? scores.get(graph.edgeKey(e)) : scores[e];
  return v === undefined || Number.isNaN(v) ? null : v;
}

function isMap(s: EdgeScores): s is ReadonlyMap<string, number> {
  return typeof (s as ReadonlyMap<string, number>).get === 'function' && !('length' in s);
}

function checkScores(graph: ComponentGraph, scores: EdgeScores | undefined): void {
  if (!scores) return;
  if (isMap(scores)) {
    for (const k of scores.keys()) if (graph.edgeIndex(k) < 0) throw new Error(`circuit: score given for '${k}', which is not an edge of the graph of ${graph.describe()}`);
  } else if (scores.length !== graph.nEdges) {
    throw new Error(`circuit: ${scores.length} scores given for a graph of ${graph.nEdges} edges`);
  }
}

/** The circuit file object (graph part + meta). */
export function circuitToJson(circuit: Circuit, opts: CircuitJsonOptions = {}): CircuitJson {
  const g = circuit.graph;
  checkScores(g, opts.scores);
  const edges = graphEdges(circuit, opts.scores, opts.edges ?? (opts.scores ? 'all' : 'circuit'));
  const meta = opts.meta ?? {};
  const head: Record<string, unknown> = {};
  for (const k of META_ORDER) if (k in meta) head[k] = meta[k];
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) if (!META_ORDER.includes(k) && k !== 'results') rest[k] = v;
  const c = g.cfg;
  return {
    format: 'circuitscope-circuit',
    version: 1,
    ...head,
    ...rest,
    splitEmbed: g.splitEmbed,
    modelConfig: { nLayers: c.nLayers, nHeads: c.nHeads, dModel: c.dModel, attnOnly: c.attnOnly },
    nodes: circuit.nodes(),
    edges,
    ...('results' in meta ? { results: meta.results } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading, without a graph: the one reader of every format

export type CircuitFormat = 'circuit' | 'mib' | 'reference' | 'keys';

export interface DecodedCircuit {
  format: CircuitFormat;
  /**
   * The file's edges (circuit file, MIB: every edge listed, flagged; reference circuit, bare
   * key list: the circuit's edges), senders trimmed and receivers in the `<q>` spelling.
   */
  edges: CircuitEdge[];
  /** the file's other fields (circuit file: model, task, method ...; MIB: { cfg }; reference: model ...) */
  meta: Record<string, unknown>;
  /** the circuit file as read, for format 'circuit' */
  file: CircuitFile | null;
}

function fail(source: string, msg: string): never {
  throw new Error(`circuit: ${source}: ${msg}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function edge(from: string, to: string, score: number | null, inCircuit: boolean): CircuitEdge {
  return { from: from.trim(), to: normalizeReceiverKey(to), score, inCircuit };
}

function splitKey(source: string, key: string): [string, string] {
  if (key.indexOf('->') < 0) fail(source, `'${key}' is not an edge key; expected ${EDGE_FORMAT}`);
  return splitEdge(key);
}

function decodeCircuitFile(o: Record<string, unknown>, source: string): DecodedCircuit {
  if (!Array.isArray(o.edges)) fail(source, `'edges' is not an array of {from, to, score, inCircuit}`);
  const edges = (o.edges as unknown[]).map((raw, i) => {
    const e = raw as Partial<CircuitEdge> | null;
    if (!e || typeof e.from !== 'string' || typeof e.to !== 'string') fail(source, `edges[${i}] needs string 'from' and 'to'`);
    return edge(e.from, e.to, typeof e.score === 'number' ? e.score : null, e.inCircuit !== false);
  });
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'edges' && k !== 'nodes') meta[k] = v;
  return { format: 'circuit', edges, meta, file: o as unknown as CircuitFile };
}

function decodeMib(o: Record<string, unknown>, source: string): DecodedCircuit {
  if (!isObject(o.edges)) fail(source, `'edges' must be an object { "a0.h1->a2.h3<q>": { score, in_graph } }`);
  const cfg = (o.cfg ?? {}) as Record<string, unknown>;
  if (cfg.parallel_attn_mlp === true) fail(source, 'parallel_attn_mlp graphs are not supported');
  const edges = Object.entries(o.edges).map(([key, raw]) => {
    const v = (raw ?? {}) as { score?: unknown; in_graph?: unknown };
    const [from, to] = splitKey(source, key);
    return edge(from, to, typeof v.score === 'number' ? v.score : null, v.in_graph === true);
  });
  return { format: 'mib', edges, meta: { cfg }, file: null };
}

type ReferenceList = 'circuit_edges' | 'uncertain_edges' | 'full_graph_edges';

function decodeReference(o: Record<string, unknown>, source: string, which: ReferenceList = 'circuit_edges'): DecodedCircuit {
  const list = o[which];
  if (!Array.isArray(list) || list.some((k) => typeof k !== 'string')) fail(source, `'${which}' is not a list of edge keys`);
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!k.endsWith('_edges')) meta[k] = v;
  return { format: 'reference', edges: decodeKeys(list as string[], source).edges, meta, file: null };
}

function decodeKeys(keys: unknown[], source: string): DecodedCircuit {
  if (keys.some((k) => typeof k !== 'string')) fail(source, 'an array must hold edge keys');
  return { format: 'keys', edges: (keys as string[]).map((k) => { const [from, to] = splitKey(source, k); return edge(from, to, null, true); }), meta: {}, file: null };
}

/**
 * Read any supported circuit JSON, without a graph: a circuit file (`{ edges: [...] }`), an
 * EAP-IG / MIB graph (`{ cfg, nodes, edges: {...} }`), a reference circuit (`circuit_edges`),
 * or a bare array of edge keys. `readCircuit` also checks it against a graph.
 */
export function readCircuitJson(json: unknown, source = 'circuit JSON'): DecodedCircuit {
  if (Array.isArray(json)) return decodeKeys(json, source);
  if (isObject(json)) {
    if (json.format === 'circuitscope-circuit' || Array.isArray(json.edges)) return decodeCircuitFile(json, source);
    if (isObject(json.edges)) return decodeMib(json, source);
    if (Array.isArray(json.circuit_edges)) return decodeReference(json, source);
  }
  fail(source, 'not a circuit file ({edges: [...]}), an EAP-IG/MIB graph ({cfg, nodes, edges: {...}}), a reference circuit ({circuit_edges}) or an array of edge keys');
}

/** The keys of the edges flagged inCircuit, in file order. */
export function circuitEdgeKeys(file: Pick<CircuitFile, 'edges'>): Set<string> {
  return new Set(file.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`));
}

/** Nodes touched by these edges (senders and receivers' nodes), in topological order (`nodeOrder`). */
export function circuitNodes(edges: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const e of edges) { const [s, r] = splitEdge(e); set.add(s); set.add(receiverNode(r)); }
  return [...set].sort(nodeOrder);
}

// ---------------------------------------------------------------------------------------------
// Reading against a graph

function checkShape(graph: ComponentGraph, source: string, nLayers: unknown, nHeads: unknown, what: string): void {
  const c = graph.cfg;
  if ((nLayers !== undefined && nLayers !== c.nLayers) || (nHeads !== undefined && nHeads !== c.nHeads)) {
    fail(source, `${what} says ${String(nLayers)} layers x ${String(nHeads)} heads but the model is ${graph.describe()}`);
  }
}

function checkEmbedKeys(graph: ComponentGraph, source: string, keys: Iterable<string>): void {
  for (const k of keys) {
    const s = k.slice(0, Math.max(0, k.indexOf('->'))).trim();
    if ((s === 'tok' || s === 'pos') && !graph.splitEmbed) fail(source, `edge '${k}' uses the split embedding (tok/pos); build the graph with splitEmbed (--split-embed)`);
    if (s === 'input' && graph.splitEmbed) fail(source, `edge '${k}' uses the single 'input' sender but the graph splits it into tok/pos; build it without splitEmbed`);
  }
}

/**
 * A decoded file against a graph: its shape, then every edge (an edge the graph lacks is an
 * error naming it). For an attention-only model, out-of-circuit edges of the MLP nodes
 * EAP-IG always lists are skipped.
 */
function toReadCircuit(graph: ComponentGraph, d: DecodedCircuit, source: string): ReadCircuit {
  if (d.format === 'circuit') {
    const mc = d.meta.modelConfig as Record<string, unknown> | undefined;
    if (mc) checkShape(graph, source, mc.nLayers, mc.nHeads, 'modelConfig');
  } else if (d.format === 'mib') {
    const cfg = d.meta.cfg as Record<string, unknown>;
    checkShape(graph, source, cfg.n_layers, cfg.n_heads, 'cfg');
  }
  const keys: string[] = [];
  const scores = new Map<string, number>();
  for (const e of d.edges) {
    const key = `${e.from}->${e.to}`;
    const idx = graph.edgeIndex(key);
    if (idx < 0 && d.format === 'mib' && !e.inCircuit && graph.cfg.attnOnly && mentionsMlp(e)) continue;
    checkEmbedKeys(graph, source, [key]);
    if (idx < 0) throw new Error(edgeError(graph, key, source));
    const norm = graph.edgeKey(idx);
    if (e.score !== null) scores.set(norm, e.score);
    if (e.inCircuit) keys.push(norm);
  }
  return { circuit: Circuit.fromEdges(graph, keys, { source }), scores, meta: d.meta };
}

function mentionsMlp(e: CircuitEdge): boolean {
  return parseNodeKey(e.from)?.kind === 'mlp' || parseNodeKey(parseReceiverKey(e.to).node)?.kind === 'mlp';
}

function objectOrFail(json: unknown, source: string): Record<string, unknown> {
  if (!isObject(json)) fail(source, 'not a JSON object');
  return json;
}

/** Read a circuit file (as written by circuitToJson) against a graph. */
export function circuitFromJson(graph: ComponentGraph, json: unknown, source = 'circuit JSON'): ReadCircuit {
  return toReadCircuit(graph, decodeCircuitFile(objectOrFail(json, source), source), source);
}

/**
 * Read an EAP-IG / MIB graph JSON against a graph. Edges with in_graph form the circuit;
 * numeric scores are kept. The node flags are not needed (EAP-IG derives them from edges).
 */
export function circuitFromMib(graph: ComponentGraph, json: unknown, source = 'MIB graph JSON'): ReadCircuit {
  return toReadCircuit(graph, decodeMib(objectOrFail(json, source), source), source);
}

/** A reference_circuit.json (`circuit_edges`, `full_graph_edges`, `uncertain_edges`; `a0.h0.q` spelling). */
export function circuitFromReference(graph: ComponentGraph, json: unknown, source = 'reference circuit', which: ReferenceList = 'circuit_edges'): Circuit {
  return toReadCircuit(graph, decodeReference((json ?? {}) as Record<string, unknown>, source, which), source).circuit;
}

/** Read any supported circuit JSON (see readCircuitJson) against a graph. */
export function readCircuit(graph: ComponentGraph, json: unknown, source = 'circuit JSON'): ReadCircuit {
  return toReadCircuit(graph, readCircuitJson(json, source), source);
}

// ---------------------------------------------------------------------------------------------
// EAP-IG / MIB

export type MibNode = boolean | { in_graph: boolean; score?: number | null };

export interface MibGraphJson {
  cfg: { n_layers: number; n_heads: number; parallel_attn_mlp: boolean; d_model: number; [k: string]: unknown };
  nodes: Record<string, MibNode>;
  edges: Record<string, { score: number | null; in_graph: boolean }>;
}

export interface MibOptions {
  scores?: EdgeScores;
  /** node entries as `{in_graph}` objects (current EAP-IG, the default) or bare booleans (older EAP-IG) */
  nodes?: 'object' | 'bool';
}

/**
 * The EAP-IG / MIB graph JSON of an edge list: the given nodes in order, each in the graph
 * when a circuit edge touches it (`logits` always, as in EAP-IG), and every edge with its
 * score and in_graph flag.
 */
export function mibJson(shape: { nLayers: number; nHeads: number; dModel: number }, nodes: Iterable<string>, edges: Iterable<CircuitEdge>, dialect: 'object' | 'bool' = 'object'): MibGraphJson {
  const list = [...edges];
  const touched = new Set<string>(['logits']);
  for (const e of list) if (e.inCircuit) { touched.add(e.from); touched.add(receiverNode(e.to)); }
  const out: Record<string, MibNode> = {};
  for (const n of nodes) out[n] = dialect === 'bool' ? touched.has(n) : { in_graph: touched.has(n) };
  const es: MibGraphJson['edges'] = {};
  for (const e of list) es[`${e.from}->${e.to}`] = { score: e.score, in_graph: e.inCircuit };
  return { cfg: { n_layers: shape.nLayers, n_heads: shape.nHeads, parallel_attn_mlp: false, d_model: shape.dModel }, nodes: out, edges: es };
}

function graphEdges(circuit: Circuit, scores: EdgeScores | undefined, only: 'all' | 'circuit'): CircuitEdge[] {
  const g = circuit.graph;
  const out: CircuitEdge[] = [];
  for (let e = 0; e < g.nEdges; e++) {
    const inCircuit = circuit.hasIndex(e);
    if (!inCircuit && only === 'circuit') continue;
    out.push({ from: g.senders[g.edgeSender[e]].key, to: g.receivers[g.edgeReceiver[e]].key, score: scoreOf(g, scores, e), inCircuit });
  }
  return out;
}

/** The EAP-IG / MIB graph JSON of a circuit: every node and edge of the graph, with in_graph flags and scores. */
export function circuitToMib(circuit: Circuit, opts: MibOptions = {}): MibGraphJson {
  const g = circuit.graph;
  checkScores(g, opts.scores);
  return mibJson(g.cfg, g.nodeKeys, graphEdges(circuit, opts.scores, 'all'), opts.nodes);
}

/** The EAP-IG / MIB graph JSON of discover's circuit file: the nodes and edges it lists. */
export function toMib(file: CircuitFile): MibGraphJson {
  return mibJson(file.modelConfig, circuitNodes(file.edges.map((e) => `${e.from}->${e.to}`)), file.edges);
}

// ---------------------------------------------------------------------------------------------
// Graphviz DOT

export interface DotOptions {
  scores?: EdgeScores;
  /** graph label */
  title?: string;
  /** also draw nodes the circuit does not touch (default false) */
  allNodes?: boolean;
}

export const QKV_COLOUR: Readonly<Record<string, string>> = Object.freeze({ q: '#1f77b4', k: '#2ca02c', v: '#d62728', none: '#555555' });
const FILL = { embed: '#e2f0d9', head: '#dbe9f6', mlp: '#fde4c8', logits: '#e5e5e5' } as const;

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * Graphviz DOT of a circuit's edges, drawn bottom-up: the embedding, then per layer one rank
 * for its heads and one for its MLP, then logits (`rank=same` groups). Heads, MLPs, embedding
 * and logits have their own fill colour; edges are coloured by the receiver input (q blue, k
 * green, v red, MLP/logits grey) and carry the edge key as their `id` (and `tooltip`, with the
 * score); with scores, pen width grows with |score|. `nodes` are the nodes to draw, in order.
 */
export function dotOf(nodes: Iterable<string>, edges: Iterable<CircuitEdge>, opts: { title: string; nLayers: number }): string {
  const lines = ['digraph circuit {', '  rankdir=BT;', '  newrank=true;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];', '  edge [arrowsize=0.6];'];
  lines.push(`  label=${quote(opts.title)};`, '  labelloc=t;');
  const ranks: string[][] = [];
  for (const n of nodes) {
    const p = parseNodeKey(n);
    const fill = !p ? FILL.logits : p.layer < 0 ? FILL.embed : p.kind === 'head' ? FILL.head : p.kind === 'mlp' ? FILL.mlp : FILL.logits;
    lines.push(`  ${quote(n)} [fillcolor="${fill}"];`);
    const rank = !p ? 2 * opts.nLayers : p.layer < 0 ? 0 : p.kind === 'logits' ? 2 * opts.nLayers + 1 : 1 + 2 * p.layer + (p.kind === 'mlp' ? 1 : 0);
    (ranks[rank] ??= []).push(n);
  }
  for (const ns of ranks) if (ns?.length) lines.push(`  { rank=same; ${ns.map(quote).join('; ')}; }`);
  const drawn = [...edges];
  let maxAbs = 0;
  for (const e of drawn) if (e.score !== null) maxAbs = Math.max(maxAbs, Math.abs(e.score));
  for (const e of drawn) {
    const key = `${e.from}->${e.to}`;
    const { node, qkv } = parseReceiverKey(e.to);
    const s = e.score;
    const attrs = [`id=${quote(key)}`, `color="${QKV_COLOUR[qkv ?? 'none']}"`, `tooltip=${quote(s === null ? key : `${key} (${fmtNum(s)})`)}`];
    if (qkv) attrs.push(`label="${qkv}"`, 'fontsize=9', `fontcolor="${QKV_COLOUR[qkv]}"`);
    if (s !== null && maxAbs > 0) attrs.push(`penwidth=${(0.6 + 4.4 * Math.abs(s) / maxAbs).toFixed(2)}`);
    lines.push(`  ${quote(e.from)} -> ${quote(node)} [${attrs.join(', ')}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Graphviz DOT of a circuit (see dotOf); only the nodes it touches unless allNodes. */
export function circuitToDot(circuit: Circuit, opts: DotOptions = {}): string {
  const g = circuit.graph;
  checkScores(g, opts.scores);
  return dotOf(opts.allNodes ? g.nodeKeys : circuit.nodes(), graphEdges(circuit, opts.scores, 'circuit'),
    { title: opts.title ?? `${g.cfg.modelName}: ${circuit.size} of ${g.nEdges} edges`, nLayers: g.cfg.nLayers });
}

/** Graphviz DOT of discover's circuit file: its kept edges, titled task · method · model · edges. */
export function toDot(file: CircuitFile): string {
  const kept = file.edges.filter((e) => e.inCircuit);
  return dotOf(circuitNodes(kept.map((e) => `${e.from}->${e.to}`)), kept,
    { title: `${file.task} · ${file.method} · ${file.model} · ${kept.length} edges`, nLayers: file.modelConfig.nLayers });
}
