/**
 * Two circuits side by side (`circuitscope compare a.json b.json`): shared edges, edges only in
 * one, the same for nodes (heads / MLPs / embeddings / logits), Jaccard overlaps, and both
 * files' metric sets (their `results`, and evaluations when given). Circuits over different
 * embedding splits are compared with tok/pos merged into input.
 */
import { receiverNode, splitEdge } from '../graph/names.js';
import type { CircuitFile, CircuitResults } from '../graph/circuit-file.js';
import type { Evaluation } from './evaluate.js';
import { mergeEmbed } from './reference.js';

export interface CompareSide {
  name: string;
  method: string | null;
  task: string | null;
  model: string | null;
  edges: number;
  results: CircuitResults | null;
  evaluation?: Evaluation | null;
}

export interface Comparison {
  format: 'circuitscope-comparison';
  version: 1;
  a: CompareSide;
  b: CompareSide;
  merged: boolean;
  edges: { shared: string[]; onlyA: string[]; onlyB: string[]; jaccard: number | null };
  nodes: { shared: string[]; onlyA: string[]; onlyB: string[]; jaccard: number | null };
  /** rows: metric name, value in a, value in b */
  metrics: [string, number | string | null, number | string | null][];
}

export interface CircuitSource { name: string; file: CircuitFile | null; edges: Set<string>; splitEmbed: boolean; evaluation?: Evaluation | null }

const nodesOf = (edges: Iterable<string>) => {
  const s = new Set<string>();
  for (const e of edges) { const [a, r] = splitEdge(e); s.add(a); s.add(receiverNode(r)); }
  return s;
};

function diff(a: Set<string>, b: Set<string>) {
  const shared = [...a].filter((x) => b.has(x)).sort();
  const union = new Set([...a, ...b]).size;
  return { shared, onlyA: [...a].filter((x) => !b.has(x)).sort(), onlyB: [...b].filter((x) => !a.has(x)).sort(), jaccard: union === 0 ? null : shared.length / union };
}

export function compareCircuits(a: CircuitSource, b: CircuitSource): Comparison {
  const merged = a.splitEmbed !== b.splitEmbed;
  const ea = merged ? mergeEmbed(a.edges) : a.edges, eb = merged ? mergeEmbed(b.edges) : b.edges;
  const side = (s: CircuitSource): CompareSide => ({
    name: s.name, method: s.file?.method ?? null, task: s.file?.task ?? null, model: s.file?.model ?? null, edges: s.edges.size,
    results: s.file?.results ?? null, ...(s.evaluation !== undefined ? { evaluation: s.evaluation } : {}),
  });
  const metrics: Comparison['metrics'] = [];
  const row = (k: string, f: (s: CircuitSource) => number | string | null | undefined) => metrics.push([k, f(a) ?? null, f(b) ?? null]);
  row('method', (s) => s.file?.method);
  row('task', (s) => s.file?.task);
  row('model', (s) => s.file?.model);
  row('ablation', (s) => s.file?.ablation);
  row('objective', (s) => s.file?.metric);
  row('threshold', (s) => s.file?.threshold);
  row('top-n', (s) => s.file?.topN);
  row('edges kept', (s) => s.edges.size);
  row('edges total', (s) => s.file?.results.edgesTotal);
  const r = (k: keyof CircuitResults) => row(`results.${k}`, (s) => { const v = s.file?.results[k]; return typeof v === 'number' || typeof v === 'string' ? v : null; });
  for (const k of ['metric', 'clean', 'corrupted', 'circuit', 'faithfulness', 'klCircuit', 'seconds'] as const) r(k);
  if (a.evaluation || b.evaluation) {
    row('eval: F(C)/F(M)', (s) => s.evaluation?.faithfulness?.ratio);
    row('eval: normalised faithfulness', (s) => s.evaluation?.faithfulness?.normalised);
    row('eval: KL(clean||C)', (s) => s.evaluation?.faithfulness?.kl);
    for (const name of new Set([...(a.evaluation?.faithfulness?.extras ?? []), ...(b.evaluation?.faithfulness?.extras ?? [])].map((x) => x.name))) {
      row(`eval: ${name}`, (s) => s.evaluation?.faithfulness?.extras.find((x) => x.name === name)?.circuit);
    }
    row('eval: completeness (worst, normalised)', (s) => s.evaluation?.completeness?.worstNormalised);
    row('eval: minimality (least node drop, normalised)', (s) => s.evaluation?.minimality?.least?.normalised);
    row('eval: CPR', (s) => s.evaluation?.curve?.cpr);
    row('eval: CMD', (s) => s.evaluation?.curve?.cmd);
    row('eval: edge TPR', (s) => s.evaluation?.reference?.vs.edges.tpr);
    row('eval: edge FPR', (s) => s.evaluation?.reference?.vs.edges.fpr);
  }
  return {
    format: 'circuitscope-comparison', version: 1, a: side(a), b: side(b), merged,
    edges: diff(ea, eb), nodes: diff(nodesOf(ea), nodesOf(eb)), metrics,
  };
}

export function comparisonText(c: Comparison): string {
  const L: string[] = [];
  const v = (x: number | string | null) => (x === null ? '—' : typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toPrecision(5)) : x);
  L.push(`A: ${c.a.name} (${c.a.edges} edges)`);
  L.push(`B: ${c.b.name} (${c.b.edges} edges)${c.merged ? '  [tok/pos merged into input to compare]' : ''}`);
  const j = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
  L.push(`edges: ${c.edges.shared.length} shared, ${c.edges.onlyA.length} only in A, ${c.edges.onlyB.length} only in B (Jaccard ${j(c.edges.jaccard)})`);
  L.push(`nodes: ${c.nodes.shared.length} shared, ${c.nodes.onlyA.length} only in A, ${c.nodes.onlyB.length} only in B (Jaccard ${j(c.nodes.jaccard)})`);
  const list = (title: string, xs: string[]) => { if (xs.length) L.push(`${title}:`, ...xs.slice(0, 200).map((x) => `  ${x}`), ...(xs.length > 200 ? [`  ... (${xs.length - 200} more)`] : [])); };
  list('only in A', c.edges.onlyA);
  list('only in B', c.edges.onlyB);
  list('shared', c.edges.shared);
  const w = Math.max(...c.metrics.map((m) => m[0].length));
  L.push('metrics:');
  L.push(`  ${''.padEnd(w)}  ${'A'.padEnd(16)}  B`);
  for (const [k, a, b] of c.metrics) L.push(`  ${k.padEnd(w)}  ${v(a).padEnd(16)}  ${v(b)}`);
  return L.join('\n');
}
