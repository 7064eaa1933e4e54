/**
 * Circuits to and from files: the circuit JSON (DESIGN.md "Circuit file"; this module writes
 * its graph part and passes the rest through), the EAP-IG / MIB graph JSON, Graphviz DOT, and
 * the toy models' reference circuits (shared/models/<m>/reference_circuit.json).
 *
 * EAP-IG / MIB graph JSON (EAP-IG `Graph.to_json` / `from_json`):
 *   { "cfg": { "n_layers", "n_heads", "parallel_attn_mlp", "d_model", ... },
 *     "nodes": { "input": {"in_graph": true}, "a0.h1": {...}, "m0": {...}, "logits": {...} },
 *     "edges": { "a0.h1->a2.h3<q>": { "score": 0.12, "in_graph": true }, ... } }
 * Every node and edge of the graph is listed. Current EAP-IG writes each node as
 * `{ "in_graph": bool }` (and reads only that form); older EAP-IG versions wrote a bare bool.
 * We write the object form by default (`nodes: 'bool'` for the old one) and read both.
 */
import type { ComponentGraph } from './graph.js';
import { Circuit, edgeError } from './circuit.js';
import { parseReceiverKey, parseNodeKey } from './names.js';

/** Edge scores: by edge key, or by edge index (graph order; NaN = not scored). */
export type EdgeScores = ReadonlyMap<string, number> | ArrayLike<number>;

export interface CircuitFileEdge {
  from: string;
  /** receiver key: `a2.h3<q>`, `m4`, `logits` */
  to: string;
  score: number | null;
  inCircuit: boolean;
}

/** The graph part of a circuit file, plus whatever metadata the caller passed (model, task, method, threshold, metric, createdAt, results ...). */
export interface CircuitJson {
  format: 'circuitscope-circuit';
  version: 1;
  splitEmbed: boolean;
  modelConfig: { nLayers: number; nHeads: number; dModel: number; attnOnly: boolean };
  nodes: string[];
  edges: CircuitFileEdge[];
  [meta: string]: unknown;
}

export interface CircuitJsonOptions {
  scores?: EdgeScores;
  /** list only the circuit's edges, or every edge of the graph with its inCircuit flag; default: 'all' when scores are given, else 'circuit' */
  edges?: 'circuit' | 'all';
  /** model, task, method, threshold, metric, createdAt, results, ... (written as given; DESIGN.md order first) */
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
  const mode = opts.edges ?? (opts.scores ? 'all' : 'circuit');
  const edges: CircuitFileEdge[] = [];
  for (let e = 0; e < g.nEdges; e++) {
    const inCircuit = circuit.hasIndex(e);
    if (!inCircuit && mode === 'circuit') continue;
    edges.push({ from: g.senders[g.edgeSender[e]].key, to: g.receivers[g.edgeReceiver[e]].key, score: scoreOf(g, opts.scores, e), inCircuit });
  }
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

function fail(source: string, msg: string): never {
  throw new Error(`circuit: ${source}: ${msg}`);
}

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

/** Read a circuit file (as written by circuitToJson) against a graph. */
export function circuitFromJson(graph: ComponentGraph, json: unknown, source = 'circuit JSON'): ReadCircuit {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(source, 'not a JSON object');
  const o = json as Record<string, unknown>;
  if (!Array.isArray(o.edges)) fail(source, `'edges' is not an array of {from, to, score, inCircuit}`);
  const mc = o.modelConfig as Record<string, unknown> | undefined;
  if (mc) checkShape(graph, source, mc.nLayers, mc.nHeads, 'modelConfig');
  const keys: string[] = [];
  const scores = new Map<string, number>();
  (o.edges as unknown[]).forEach((raw, i) => {
    const e = raw as Partial<CircuitFileEdge> | null;
    if (!e || typeof e.from !== 'string' || typeof e.to !== 'string') fail(source, `edges[${i}] needs string 'from' and 'to'`);
    const key = `${e.from}->${e.to}`;
    checkEmbedKeys(graph, source, [key]);
    const idx = graph.edgeIndex(key);
    if (idx < 0) throw new Error(edgeError(graph, key, source));
    const norm = graph.edgeKey(idx);
    if (typeof e.score === 'number') scores.set(norm, e.score);
    if (e.inCircuit !== false) keys.push(norm);
  });
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'edges' && k !== 'nodes') meta[k] = v;
  return { circuit: Circuit.fromEdges(graph, keys, { source }), scores, meta };
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

/** The EAP-IG / MIB graph JSON of a circuit: every node and edge of the graph, with in_graph flags and scores. */
export function circuitToMib(circuit: Circuit, opts: MibOptions = {}): MibGraphJson {
  const g = circuit.graph;
  checkScores(g, opts.scores);
  const touched = new Set(circuit.nodes());
  const nodes: Record<string, MibNode> = {};
  for (const n of g.nodeKeys) {
    const inGraph = n === 'logits' || touched.has(n); // EAP-IG: logits is always in the graph
    nodes[n] = opts.nodes === 'bool' ? inGraph : { in_graph: inGraph };
  }
  const edges: MibGraphJson['edges'] = {};
  for (let e = 0; e < g.nEdges; e++) edges[g.edgeKey(e)] = { score: scoreOf(g, opts.scores, e), in_graph: circuit.hasIndex(e) };
  const c = g.cfg;
  return { cfg: { n_layers: c.nLayers, n_heads: c.nHeads, parallel_attn_mlp: false, d_model: c.dModel }, nodes, edges };
}

/**
 * Read an EAP-IG / MIB graph JSON against a graph. Edges with in_graph form the circuit;
 * numeric scores are kept. The node flags are not needed (EAP-IG derives them from edges).
 * For an attention-only model, out-of-circuit edges of the MLP nodes EAP-IG always lists are
 * skipped.
 */
export function circuitFromMib(graph: ComponentGraph, json: unknown, source = 'MIB graph JSON'): ReadCircuit {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(source, 'not a JSON object');
  const o = json as Record<string, unknown>;
  if (!o.edges || typeof o.edges !== 'object' || Array.isArray(o.edges)) fail(source, `'edges' must be an object { "a0.h1->a2.h3<q>": { score, in_graph } }`);
  const cfg = (o.cfg ?? {}) as Record<string, unknown>;
  checkShape(graph, source, cfg.n_layers, cfg.n_heads, 'cfg');
  if (cfg.parallel_attn_mlp === true) fail(source, 'parallel_attn_mlp graphs are not supported');
  const keys: string[] = [];
  const scores = new Map<string, number>();
  for (const [key, raw] of Object.entries(o.edges as Record<string, unknown>)) {
    const v = (raw ?? {}) as { score?: unknown; in_graph?: unknown };
    const inGraph = v.in_graph === true;
    const idx = graph.edgeIndex(key);
    if (idx < 0 && !inGraph && graph.cfg.attnOnly && mentionsMlp(key)) continue;
    checkEmbedKeys(graph, source, [key]);
    if (idx < 0) throw new Error(edgeError(graph, key, source));
    const norm = graph.edgeKey(idx);
    if (typeof v.score === 'number') scores.set(norm, v.score);
    if (inGraph) keys.push(norm);
  }
  return { circuit: Circuit.fromEdges(graph, keys, { source }), scores, meta: { cfg } };
}

function mentionsMlp(key: string): boolean {
  const a = key.indexOf('->');
  if (a < 0) return false;
  const s = parseNodeKey(key.slice(0, a).trim());
  const r = parseNodeKey(parseReceiverKey(key.slice(a + 2)).node);
  return s?.kind === 'mlp' || r?.kind === 'mlp';
}

// ---------------------------------------------------------------------------------------------
// Reference circuits of the shared toy models, and auto-detection

/** A reference_circuit.json (`circuit_edges`, `full_graph_edges`, `uncertain_edges`; `a0.h0.q` spelling). */
export function circuitFromReference(graph: ComponentGraph, json: unknown, source = 'reference circuit', which: 'circuit_edges' | 'uncertain_edges' | 'full_graph_edges' = 'circuit_edges'): Circuit {
  const o = json as Record<string, unknown> | null;
  const list = o?.[which];
  if (!Array.isArray(list) || list.some((k) => typeof k !== 'string')) fail(source, `'${which}' is not a list of edge keys`);
  checkEmbedKeys(graph, source, list as string[]);
  return Circuit.fromEdges(graph, list as string[], { source });
}

/**
 * Read any supported circuit JSON: a circuit file, an EAP-IG / MIB graph, a reference
 * circuit (`circuit_edges`), or a bare array of edge keys.
 */
export function readCircuitJson(graph: ComponentGraph, json: unknown, source = 'circuit JSON'): ReadCircuit {
  if (Array.isArray(json)) {
    if (json.some((k) => typeof k !== 'string')) fail(source, 'an array must hold edge keys');
    checkEmbedKeys(graph, source, json as string[]);
    return { circuit: Circuit.fromEdges(graph, json as string[], { source }), scores: new Map(), meta: {} };
  }
  const o = json as Record<string, unknown> | null;
  if (o && typeof o === 'object') {
    if (Array.isArray(o.edges)) return circuitFromJson(graph, o, source);
    if (o.edges && typeof o.edges === 'object') return circuitFromMib(graph, o, source);
    if (Array.isArray(o.circuit_edges)) {
      const meta: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) if (!k.endsWith('_edges')) meta[k] = v;
      return { circuit: circuitFromReference(graph, o, source), scores: new Map(), meta };
    }
  }
  fail(source, 'not a circuit file ({edges: [...]}), an EAP-IG/MIB graph ({cfg, nodes, edges: {...}}), a reference circuit ({circuit_edges}) or an array of edge keys');
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
 * Graphviz DOT of a circuit, drawn bottom-up: the embedding, then per layer one rank for its
 * heads and one for its MLP, then logits (`rank=same` groups). Heads, MLPs, embedding and
 * logits have their own fill colour; edges are coloured by the receiver input (q blue, k
 * green, v red, MLP/logits grey) and carry the edge key as their `id` (and `tooltip`, with the
 * score); with scores, pen width grows with |score|.
 */
export function circuitToDot(circuit: Circuit, opts: DotOptions = {}): string {
  const g = circuit.graph;
  checkScores(g, opts.scores);
  const shown = new Set(opts.allNodes ? g.nodeKeys : circuit.nodes());
  const lines = ['digraph circuit {', '  rankdir=BT;', '  newrank=true;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];', '  edge [arrowsize=0.6];'];
  const title = opts.title ?? `${g.cfg.modelName}: ${circuit.size} of ${g.nEdges} edges`;
  lines.push(`  label=${quote(title)};`, '  labelloc=t;');
  const ranks: string[][] = [];
  const rankOf = (n: string): number => {
    const p = parseNodeKey(n)!;
    if (p.layer < 0) return 0;
    if (p.kind === 'logits') return 2 * g.cfg.nLayers + 1;
    return 1 + 2 * p.layer + (p.kind === 'mlp' ? 1 : 0);
  };
  for (const n of g.nodeKeys) {
    if (!shown.has(n)) continue;
    const p = parseNodeKey(n)!;
    const fill = p.layer < 0 ? FILL.embed : p.kind === 'head' ? FILL.head : p.kind === 'mlp' ? FILL.mlp : FILL.logits;
    lines.push(`  ${quote(n)} [fillcolor="${fill}"];`);
    const r = rankOf(n);
    (ranks[r] ??= []).push(n);
  }
  for (const ns of ranks) if (ns?.length) lines.push(`  { rank=same; ${ns.map(quote).join('; ')}; }`);
  let maxAbs = 0;
  for (let e = 0; e < g.nEdges; e++) {
    const s = scoreOf(g, opts.scores, e);
    if (circuit.hasIndex(e) && s !== null) maxAbs = Math.max(maxAbs, Math.abs(s));
  }
  for (const e of circuit.indices()) {
    const key = g.edgeKey(e);
    const r = g.receivers[g.edgeReceiver[e]];
    const s = scoreOf(g, opts.scores, e);
    const attrs = [`id=${quote(key)}`, `color="${QKV_COLOUR[r.qkv ?? 'none']}"`, `tooltip=${quote(s === null ? key : `${key} (${s.toPrecision(4)})`)}`];
    if (r.qkv) attrs.push(`label="${r.qkv}"`, 'fontsize=9', `fontcolor="${QKV_COLOUR[r.qkv]}"`);
    if (s !== null && maxAbs > 0) attrs.push(`penwidth=${(0.6 + 4.4 * Math.abs(s) / maxAbs).toFixed(2)}`);
    lines.push(`  ${quote(g.senders[g.edgeSender[e]].key)} -> ${quote(r.node)} [${attrs.join(', ')}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
