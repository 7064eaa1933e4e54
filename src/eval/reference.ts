/**
 * Reference circuits for ROC and comparison: a task's hand-found circuit (`--reference ioi`),
 * or a file: a circuitscope circuit file, an EAP-IG / MIB graph JSON, or a toy
 * `reference_circuit.json` (`circuit_edges`, `a0.h0.q` receivers). Comparing circuits over
 * different embedding splits merges `tok` and `pos` into `input` on the split side (the other
 * direction is ambiguous), so both sides live on the same graph. Files are read by the CLI
 * (src/cli/context.ts `readReferenceFile`, `resolveReference`); this module takes their JSON.
 */
import { splitEdge } from '../graph/names.js';
import { readCircuitJson, type CircuitFile } from '../graph/circuit-file.js';
import { convertToyEdge } from '../tasks/references.js';
import { getTask, taskNames } from '../tasks/registry.js';
import type { Task } from '../tasks/types.js';

export interface ModelShape { nLayers: number; nHeads: number; attnOnly: boolean }

export interface Reference {
  name: string;
  source: string;
  edges: Set<string>;
  uncertain: Set<string>;
  splitEmbed: boolean;
  /** the model shape the edges belong to, when known */
  shape: ModelShape | null;
}

const usesSplit = (edges: Iterable<string>) => { for (const e of edges) { const s = splitEdge(e)[0]; if (s === 'tok' || s === 'pos') return true; } return false; };

/** The task's published circuit, or null when it has none (or its files are absent). */
export function referenceFromTask(task: Task): Reference | null {
  const r = task.loadReference?.() ?? null;
  if (!r) return null;
  return {
    name: r.name, source: r.source, edges: new Set(r.edges), uncertain: new Set(r.uncertain), splitEmbed: r.splitEmbed,
    shape: { nLayers: r.cfg.nLayers, nHeads: r.cfg.nHeads, attnOnly: r.cfg.attnOnly },
  };
}

/** A reference from a file's parsed JSON (see the header for the formats); `path` names it. */
export function referenceFromJson(json: unknown, path: string): Reference {
  const o = json as Record<string, unknown>;
  if (o && Array.isArray(o.circuit_edges)) {
    const list = (v: unknown) => (Array.isArray(v) ? v.map((x) => convertToyEdge(String(x))) : []);
    const edges = new Set(list(o.circuit_edges));
    return { name: typeof o.model === 'string' ? o.model : path, source: path, edges, uncertain: new Set(list(o.uncertain_edges)), splitEmbed: usesSplit(edges), shape: null };
  }
  const { edges, file } = readCircuitJson(json, path);
  const kept = new Set(edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`));
  return {
    name: file ? `${file.method} circuit for ${file.task} (${path})` : path, source: path, edges: kept, uncertain: new Set(),
    splitEmbed: file ? file.splitEmbed : usesSplit(edges.map((e) => `${e.from}->${e.to}`)),
    shape: file ? { nLayers: file.modelConfig.nLayers, nHeads: file.modelConfig.nHeads, attnOnly: file.modelConfig.attnOnly } : null,
  };
}

/** `--reference <task>` when `spec` is not a file: the task's published circuit, or an error naming the tasks. */
export function taskReference(spec: string): Reference {
  let task: Task;
  try { task = getTask(spec); } catch {
    throw new Error(`eval: --reference '${spec}' is neither a file nor a task (tasks: ${taskNames().join(', ')})`);
  }
  const r = referenceFromTask(task);
  if (!r) throw new Error(`eval: task '${spec}' has no reference circuit here${task.loadReference ? ' (its files are not available)' : ''}`);
  return r;
}

/** `tok->x` / `pos->x` -> `input->x`. */
export function mergeEmbed(edges: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const e of edges) { const [s, r] = splitEdge(e); out.add(s === 'tok' || s === 'pos' ? `input->${r}` : e); }
  return out;
}

export interface Aligned { found: Set<string>; reference: Set<string>; universe: string[]; merged: boolean }

/**
 * Put a found circuit (with its graph's edges `universe`) and a reference on one graph; throws
 * when the reference belongs to another model shape or names edges outside the graph.
 */
export function align(found: Iterable<string>, universe: readonly string[], splitEmbed: boolean, ref: Reference, shape?: ModelShape): Aligned {
  if (shape && ref.shape && (shape.nLayers !== ref.shape.nLayers || shape.nHeads !== ref.shape.nHeads || shape.attnOnly !== ref.shape.attnOnly)) {
    const d = (s: ModelShape) => `${s.nLayers} layers x ${s.nHeads} heads${s.attnOnly ? ', attention-only' : ''}`;
    throw new Error(`eval: reference '${ref.name}' is for a model of ${d(ref.shape)}, but the circuit's model has ${d(shape)}`);
  }
  const merged = splitEmbed !== ref.splitEmbed;
  const f = merged ? mergeEmbed(found) : new Set(found);
  const r = merged ? mergeEmbed(ref.edges) : new Set(ref.edges);
  const u = merged ? [...mergeEmbed(universe)] : [...universe];
  const us = new Set(u);
  for (const e of r) if (!us.has(e)) throw new Error(`eval: reference '${ref.name}' has edge '${e}', which is not in the circuit's graph`);
  return { found: f, reference: r, universe: u, merged };
}

/** All edges (the graph) and the kept ones of a circuit file. */
export function fileEdges(file: Pick<CircuitFile, 'edges'>): { universe: string[]; kept: Set<string>; scores: Map<string, number | null> } {
  const universe = file.edges.map((e) => `${e.from}->${e.to}`);
  return {
    universe,
    kept: new Set(file.edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`)),
    scores: new Map(file.edges.map((e) => [`${e.from}->${e.to}`, e.score])),
  };
}
