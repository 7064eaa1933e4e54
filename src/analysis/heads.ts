/**
 * Naming and choosing attention heads: `5.5`, `a5.h5` and `5.*` (every head of layer 5) parse to
 * `{ layer, head }`; a circuit file names its heads as `a{L}.h{H}` nodes. Shared by the
 * attention, head-detector and DLA analyses and their commands.
 */
import type { ModelConfig } from '../model/config.js';
import type { CircuitEdge } from '../graph/circuit-file.js';

export interface HeadRef { readonly layer: number; readonly head: number }

export const headName = (h: HeadRef) => `a${h.layer}.h${h.head}`;

/** Every head of the model, layer-major. */
export function allHeads(cfg: Pick<ModelConfig, 'nLayers' | 'nHeads'>): HeadRef[] {
  const out: HeadRef[] = [];
  for (let layer = 0; layer < cfg.nLayers; layer++) for (let head = 0; head < cfg.nHeads; head++) out.push({ layer, head });
  return out;
}

function checkRange(cfg: Pick<ModelConfig, 'nLayers' | 'nHeads'>, h: HeadRef, spec: string, what: string): HeadRef {
  if (h.layer >= cfg.nLayers) throw new Error(`${what}: '${spec}' names layer ${h.layer} but the model has layers 0..${cfg.nLayers - 1}`);
  if (h.head >= cfg.nHeads) throw new Error(`${what}: '${spec}' names head ${h.head} but the model has heads 0..${cfg.nHeads - 1} per layer`);
  return h;
}

/**
 * Parse a comma-separated head list: `5.5`, `a5.h5`, `L5H5`, `5.*` (whole layer). Errors name
 * `what` (the option) and the bad entry. Duplicates are dropped; order is kept.
 */
export function parseHeadList(spec: string, cfg: Pick<ModelConfig, 'nLayers' | 'nHeads'>, what = '--heads'): HeadRef[] {
  const out: HeadRef[] = [];
  const seen = new Set<string>();
  const add = (h: HeadRef) => { const k = headName(h); if (!seen.has(k)) { seen.add(k); out.push(h); } };
  for (const raw of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const whole = /^(?:a|L)?(\d+)(?:\.h?|H)\*$/i.exec(raw);
    if (whole) {
      const layer = Number(whole[1]);
      checkRange(cfg, { layer, head: 0 }, raw, what);
      for (let head = 0; head < cfg.nHeads; head++) add({ layer, head });
      continue;
    }
    const m = /^(?:a(\d+)\.h(\d+)|(\d+)\.(\d+)|L(\d+)H(\d+))$/i.exec(raw);
    if (!m) throw new Error(`${what}: '${raw}' is not a head; write layer.head (5.5), a5.h5, or 5.* for a whole layer`);
    const [layer, head] = (m[1] !== undefined ? [m[1], m[2]] : m[3] !== undefined ? [m[3], m[4]] : [m[5], m[6]]).map(Number);
    add(checkRange(cfg, { layer, head }, raw, what));
  }
  if (out.length === 0) throw new Error(`${what}: no heads given`);
  return out;
}

/** The heads a circuit uses (as a sender or a receiver of an edge in the circuit), layer-major. */
export function circuitHeads(edges: readonly CircuitEdge[], cfg: Pick<ModelConfig, 'nLayers' | 'nHeads'>, source: string): HeadRef[] {
  const keys = new Set<string>();
  for (const e of edges) {
    if (!e.inCircuit) continue;
    for (const node of [e.from, e.to.replace(/<[qkv]>$/, '')]) if (/^a\d+\.h\d+$/.test(node)) keys.add(node);
  }
  const heads = [...keys].map((k) => { const m = /^a(\d+)\.h(\d+)$/.exec(k)!; return { layer: Number(m[1]), head: Number(m[2]) }; });
  for (const h of heads) checkRange(cfg, h, headName(h), `circuit ${source}`);
  return heads.sort((a, b) => a.layer - b.layer || a.head - b.head);
}

/** One line per head: which of its inputs and outputs are circuit edges (for captions). */
export function circuitRole(edges: readonly CircuitEdge[], h: HeadRef): string {
  const name = headName(h);
  const parts: string[] = [];
  for (const x of ['q', 'k', 'v'] as const) {
    const from = edges.filter((e) => e.inCircuit && e.to === `${name}<${x}>`).map((e) => e.from);
    if (from.length > 0) parts.push(`${x} <- ${from.join(', ')}`);
  }
  const to = edges.filter((e) => e.inCircuit && e.from === name).map((e) => e.to);
  if (to.length > 0) parts.push(`out -> ${to.join(', ')}`);
  return parts.length > 0 ? `in the circuit: ${parts.join('; ')}` : 'in the circuit';
}
