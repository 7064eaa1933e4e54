/**
 * The circuit file (DESIGN.md "Circuit file") and its conversions: Graphviz DOT, and the
 * EAP-IG / MIB graph JSON ({ cfg, nodes: {name: in_graph}, edges: {key: {score, in_graph}} },
 * node names input / a{L}.h{H} / m{L} / logits, receiver suffixes <q> <k> <v>).
 */
import { receiverNode, splitEdge } from './selection.js';

export interface CircuitEdge { from: string; to: string; score: number | null; inCircuit: boolean }

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
  seconds: number;
  /** of which the method itself (setup, clean reference and the evaluation excluded) */
  methodSeconds?: number;
  /** attribution methods: of which the forward + backward passes and score contractions */
  attributionSeconds?: number;
  forwards: number;
  backwards: number;
}

export interface CircuitFile {
  format: 'circuitscope-circuit';
  version: 1;
  model: string;
  modelConfig: { nLayers: number; nHeads: number; dModel: number; attnOnly: boolean };
  task: string;
  method: string;
  threshold: number | null;
  topN: number | null;
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

/** Nodes touched by the circuit's edges (senders and receivers' nodes), in a stable order. */
export function circuitNodes(edges: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const e of edges) { const [s, r] = splitEdge(e); set.add(s); set.add(receiverNode(r)); }
  return [...set].sort(nodeOrder);
}

function nodeRank(n: string): [number, number, number] {
  if (n === 'input' || n === 'tok' || n === 'pos') return [-1, n === 'pos' ? 1 : 0, 0];
  if (n === 'logits') return [1e9, 0, 0];
  const h = /^a(\d+)\.h(\d+)$/.exec(n);
  if (h) return [Number(h[1]), 0, Number(h[2])];
  const m = /^m(\d+)$/.exec(n);
  if (m) return [Number(m[1]), 1, 0];
  return [1e8, 0, 0];
}

export function nodeOrder(a: string, b: string): number {
  const x = nodeRank(a), y = nodeRank(b);
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || (a < b ? -1 : a > b ? 1 : 0);
}

export function circuitEdgeKeys(file: Pick<CircuitFile, 'edges'>): Set<string> {
  return new Set(file.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`));
}

const QKV_COLOUR: Record<string, string> = { q: '#1f77b4', k: '#2ca02c', v: '#d62728' };

/** Graphviz DOT: one rank per layer, heads and MLPs coloured, edges coloured by q/k/v. */
export function toDot(file: CircuitFile): string {
  const edges = [...circuitEdgeKeys(file)];
  const nodes = circuitNodes(edges);
  const q = (s: string) => `"${s.replace(/"/g, '\\"')}"`;
  const lines = ['digraph circuit {', '  rankdir=BT;', '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    `  label=${q(`${file.task} · ${file.method} · ${file.model} · ${edges.length} edges`)};`];
  const byLayer = new Map<number, string[]>();
  for (const n of nodes) {
    const l = nodeRank(n)[0];
    if (!byLayer.has(l)) byLayer.set(l, []);
    byLayer.get(l)!.push(n);
    const fill = n.startsWith('a') ? '#dbe9f6' : n.startsWith('m') ? '#fde4c8' : n === 'logits' ? '#e5e5e5' : '#e2f0d9';
    lines.push(`  ${q(n)} [fillcolor="${fill}"];`);
  }
  for (const [, ns] of [...byLayer].sort((a, b) => a[0] - b[0])) lines.push(`  { rank=same; ${ns.map(q).join('; ')}; }`);
  for (const e of edges) {
    const [s, r] = splitEdge(e);
    const m = /<([qkv])>$/.exec(r);
    const attrs = m ? `color="${QKV_COLOUR[m[1]]}", label="${m[1]}"` : 'color="#555555"';
    lines.push(`  ${q(s)} -> ${q(receiverNode(r))} [${attrs}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

export interface MibGraph {
  cfg: { n_layers: number; n_heads: number; parallel_attn_mlp: boolean; d_model: number };
  nodes: Record<string, boolean>;
  edges: Record<string, { score: number | null; in_graph: boolean }>;
}

export function toMib(file: CircuitFile): MibGraph {
  const kept = circuitEdgeKeys(file);
  const nodesIn = new Set(circuitNodes(kept));
  const nodes: Record<string, boolean> = {};
  for (const e of file.edges) { const [s, r] = splitEdge(`${e.from}->${e.to}`); for (const n of [s, receiverNode(r)]) nodes[n] = nodesIn.has(n); }
  const edges: MibGraph['edges'] = {};
  for (const e of file.edges) edges[`${e.from}->${e.to}`] = { score: e.score, in_graph: e.inCircuit };
  const c = file.modelConfig;
  return { cfg: { n_layers: c.nLayers, n_heads: c.nHeads, parallel_attn_mlp: false, d_model: c.dModel }, nodes, edges };
}

/** Read either a circuit file or an EAP-IG / MIB graph JSON; returns edges with scores. */
export function readCircuitJson(json: unknown, source: string): { edges: CircuitEdge[]; file: CircuitFile | null } {
  const o = json as Record<string, unknown>;
  if (o && o.format === 'circuitscope-circuit') {
    const f = o as unknown as CircuitFile;
    if (!Array.isArray(f.edges)) throw new Error(`circuit: ${source}: 'edges' is not an array`);
    return { edges: f.edges, file: f };
  }
  if (o && typeof o.edges === 'object' && o.edges !== null && !Array.isArray(o.edges)) {
    const edges: CircuitEdge[] = [];
    for (const [k, v] of Object.entries(o.edges as Record<string, { score?: number | null; in_graph?: boolean }>)) {
      const [from, to] = splitEdge(k);
      edges.push({ from, to, score: v?.score ?? null, inCircuit: Boolean(v?.in_graph) });
    }
    return { edges, file: null };
  }
  throw new Error(`circuit: ${source} is neither a circuitscope circuit file nor an EAP-IG/MIB graph JSON`);
}
