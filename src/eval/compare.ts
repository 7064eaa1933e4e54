/**
 * Two circuits side by side (`circuitscope compare a.json b.json`): shared edges, edges only in
 * one, the same for nodes (heads / MLPs / embeddings / logits), Jaccard overlaps, and both
 * files' metric sets (their `results`, and evaluations when given). Circuits over different
 * embedding splits are compared with tok/pos merged into input. Circuits found on different
 * models or tasks, or with different ablations, prompt counts (n) or seeds, are not like for
 * like: `warnings` names each difference (and the text and HTML print them first).
 */
import { receiverNode, splitEdge } from '../graph/names.js';
import type { CircuitFile, CircuitResults } from '../graph/circuit-file.js';
import type { Evaluation } from './evaluate.js';
import { mergeEmbed } from './reference.js';
import { fmtNum, fmtThreshold, KL_ZERO } from '../util/format.js';

export interface CompareSide {
  name: string;
  method: string | null;
  task: string | null;
  model: string | null;
  ablation: string | null;
  /** prompts the circuit was found on, and their seed */
  n: number | null;
  seed: number | null;
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
  /** one line per setting A and B differ in (model, task, ablation, n, seed; the same for their evaluations): the numbers are not like for like */
  warnings: string[];
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

/** The settings A and B differ in, one line each (only where both sides know the setting). */
export function comparisonWarnings(a: CircuitSource, b: CircuitSource): string[] {
  const out: string[] = [];
  const check = (what: string, x: string | number | null | undefined, y: string | number | null | undefined) => {
    if (x !== null && x !== undefined && y !== null && y !== undefined && x !== y) out.push(`different ${what}: A ${x}, B ${y}`);
  };
  check('model', a.file?.model, b.file?.model);
  check('task', a.file?.task, b.file?.task);
  check('ablation', a.file?.ablation, b.file?.ablation);
  check('prompt count (n)', a.file?.n, b.file?.n);
  check('seed', a.file?.seed, b.file?.seed);
  if (a.evaluation && b.evaluation) {
    check('evaluation ablation', a.evaluation.circuit.ablation, b.evaluation.circuit.ablation);
    check('evaluation prompt count (n)', a.evaluation.batch.n, b.evaluation.batch.n);
    check('evaluation seed', a.evaluation.batch.seed, b.evaluation.batch.seed);
  }
  return out;
}

export function compareCircuits(a: CircuitSource, b: CircuitSource): Comparison {
  const merged = a.splitEmbed !== b.splitEmbed;
  const ea = merged ? mergeEmbed(a.edges) : a.edges, eb = merged ? mergeEmbed(b.edges) : b.edges;
  const side = (s: CircuitSource): CompareSide => ({
    name: s.name, method: s.file?.method ?? null, task: s.file?.task ?? null, model: s.file?.model ?? null,
    ablation: s.file?.ablation ?? null, n: s.file?.n ?? null, seed: s.file?.seed ?? null, edges: s.edges.size,
    results: s.file?.results ?? null, ...(s.evaluation !== undefined ? { evaluation: s.evaluation } : {}),
  });
  const metrics: Comparison['metrics'] = [];
  const row = (k: string, f: (s: CircuitSource) => number | string | null | undefined) => metrics.push([k, f(a) ?? null, f(b) ?? null]);
  row('method', (s) => s.file?.method);
  row('task', (s) => s.file?.task);
  row('model', (s) => s.file?.model);
  row('ablation', (s) => s.file?.ablation);
  row('prompts (n)', (s) => s.file?.n);
  row('seed', (s) => s.file?.seed);
  row('objective', (s) => s.file?.metric);
  row('threshold', (s) => s.file?.threshold);
  row('top-n', (s) => s.file?.topN);
  row('edges kept', (s) => s.edges.size);
  row('edges total', (s) => s.file?.results.edgesTotal);
  const r = (k: keyof CircuitResults) => row(`results.${k}`, (s) => { const v = s.file?.results[k]; return typeof v === 'number' || typeof v === 'string' ? v : null; });
  for (const k of ['metric', 'clean', 'corrupted', 'circuit', 'faithfulness', 'klCircuit', 'seconds'] as const) r(k);
  if (a.evaluation || b.evaluation) {
    row('eval: ablation', (s) => s.evaluation?.circuit.ablation);
    row('eval: prompts (n)', (s) => s.evaluation?.batch.n);
    row('eval: seed', (s) => s.evaluation?.batch.seed);
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
    format: 'circuitscope-comparison', version: 1, a: side(a), b: side(b), merged, warnings: comparisonWarnings(a, b),
    edges: diff(ea, eb), nodes: diff(nodesOf(ea), nodesOf(eb)), metrics,
  };
}

/** A metric cell of the comparison as text: thresholds in fmtThreshold's form, KL with its noise band, numbers by fmtNum. */
export function comparisonValue(metric: string, x: number | string | null): string {
  if (x === null) return '—';
  if (typeof x === 'string') return x;
  if (metric === 'threshold') return fmtThreshold(x);
  if (/KL|klCircuit/.test(metric)) return fmtNum(x, 4, KL_ZERO);
  return fmtNum(x, 5);
}

/** One side's headline: name, edges, and n / seed when known. */
export const sideLine = (s: CompareSide) => `${s.name} (${s.edges} edges${s.n !== null && s.n !== undefined ? `, n=${s.n}` : ''}${s.seed !== null && s.seed !== undefined ? `, seed ${s.seed}` : ''})`;

export function comparisonText(c: Comparison): string {
  const L: string[] = [];
  for (const w of c.warnings ?? []) L.push(`warning: ${w}`);
  L.push(`A: ${sideLine(c.a)}`);
  L.push(`B: ${sideLine(c.b)}${c.merged ? '  [tok/pos merged into input to compare]' : ''}`);
  const j = (x: number | null) => fmtNum(x, 3);
  L.push(`edges: ${c.edges.shared.length} shared, ${c.edges.onlyA.length} only in A, ${c.edges.onlyB.length} only in B (Jaccard ${j(c.edges.jaccard)})`);
  L.push(`nodes: ${c.nodes.shared.length} shared, ${c.nodes.onlyA.length} only in A, ${c.nodes.onlyB.length} only in B (Jaccard ${j(c.nodes.jaccard)})`);
  const list = (title: string, xs: string[]) => { if (xs.length) L.push(`${title}:`, ...xs.slice(0, 200).map((x) => `  ${x}`), ...(xs.length > 200 ? [`  ... (${xs.length - 200} more)`] : [])); };
  list('only in A', c.edges.onlyA);
  list('only in B', c.edges.onlyB);
  list('shared', c.edges.shared);
  const w = Math.max(...c.metrics.map((m) => m[0].length));
  L.push('metrics:');
  L.push(`  ${''.padEnd(w)}  ${'A'.padEnd(16)}  B`);
  for (const [k, a, b] of c.metrics) L.push(`  ${k.padEnd(w)}  ${comparisonValue(k, a).padEnd(16)}  ${comparisonValue(k, b)}`);
  return L.join('\n');
}
