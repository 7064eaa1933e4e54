/**
 * One registry of discovery methods; it throws on duplicate keys and generates the CLI's
 * choices. An entry carries what callers need to know of a method, so no method name is
 * hard-coded outside this folder: how it picks the circuit, the sign of its scores, its
 * default metric and threshold, whether it checkpoints, and its own options.
 */
import type { DiscoveryContext, DiscoveryResult, MethodOptions, OwnMethodOptions } from './types.js';
import { acdc } from './acdc.js';
import { eap } from './eap.js';
import { eapIg, eapIgActivations } from './eap-ig.js';
import { edgePruning, mattr } from './edge-pruning.js';

/** A method's own CLI option (yargs style), forwarded to `run` under `key`. */
export interface MethodOption {
  key: keyof OwnMethodOptions; flag: string; type: 'number' | 'boolean' | 'string'; describe: string;
  /** numbers: integers (unless `int: false`) from `min` up, to `max`, or strictly above `above` */
  min?: number;
  max?: number;
  above?: number;
  int?: boolean;
  /** numbers: a comma-separated list of them (`--density 0.05,0.5`), each within the bounds */
  list?: boolean;
}

/** Options of every score method: how the circuit is picked from the scores. */
export const SELECTION_FLAGS = ['top-n', 'greedy'] as const;

export interface MethodEntry {
  name: string;
  /** 'prune': the method decides the circuit itself (ACDC); 'score': edges are scored, selection picks */
  kind: 'prune' | 'score';
  run: (ctx: DiscoveryContext, opts: MethodOptions) => Promise<DiscoveryResult>;
  /** default metric */
  defaultMetric: 'kl' | 'task';
  /**
   * Sign of an important edge's score: +1 when important edges score high (ACDC: removing them
   * raises the objective), -1 when they score low (EAP, EAP-IG: the metric falls when ablated).
   */
  scoreSign: 1 | -1;
  /** threshold used when none is given (prune methods), or undefined (score methods pick the top 2%) */
  defaultThreshold?: number;
  /** writes a checkpoint after each step and can resume from it (`--resume`) */
  checkpoints: boolean;
  /** the method's own options */
  options: MethodOption[];
  /** the method only attributes (one pass over each chunk): chunks may be streamed, one engine held at a time */
  attributionOnly?: boolean;
  /** the method trains a mask through the edge-masked forward's gradient (engine.maskGradient) each step: without --batch-size, chunks are sized for that backward */
  trainsMask?: boolean;
  /** another name of the method `aliasOf` (same run, same results): listings may skip it */
  aliasOf?: string;
}

const registry = new Map<string, MethodEntry>();

export function registerMethod(m: MethodEntry): void {
  if (registry.has(m.name)) throw new Error(`discovery: method '${m.name}' is already registered`);
  registry.set(m.name, m);
}

export function getMethod(name: string): MethodEntry {
  const m = registry.get(name);
  if (!m) throw new Error(`discovery: unknown method '${name}' (known: ${[...registry.keys()].join(', ')})`);
  return m;
}

export function methodNames(): string[] { return [...registry.keys()]; }

export function methods(): MethodEntry[] { return [...registry.values()]; }

/** The flags method `name` takes beyond the common ones (threshold, metric, ablation, ...). */
export function methodFlags(name: string): string[] {
  const m = getMethod(name);
  return [...m.options.map((o) => o.flag), ...(m.kind === 'score' ? SELECTION_FLAGS : [])];
}

/**
 * The one check of options a method does not take (every command runs it): `given` holds
 * the method flags the user set; throws one line naming the first that `name` ignores.
 */
export function checkMethodFlags(name: string, given: readonly string[]): void {
  const own = methodFlags(name);
  const bad = given.find((f) => !own.includes(f));
  if (bad) throw new Error(`--${bad} does not apply to --method ${name}${own.length ? ` (its own options: ${own.map((f) => `--${f}`).join(', ')})` : ''}`);
}

/** ACDC's speculative batch when none is given: 8 on WebGPU (per-op overhead dominates), else 1. */
export function defaultSpeculate(backend: string): number { return backend === 'webgpu' ? 8 : 1; }

registerMethod({
  name: 'acdc', kind: 'prune', run: acdc, defaultMetric: 'kl', scoreSign: 1, defaultThreshold: 0.01, checkpoints: true,
  options: [
    { key: 'speculate', flag: 'speculate', type: 'number', min: 1, describe: 'ACDC: removals evaluated per batched forward (same result; default 8 on webgpu, else 1); >1 pays off when per-op overhead dominates (few prompts, GPU), not on CPU with many prompts' },
    { key: 'absValue', flag: 'abs-value', type: 'boolean', describe: 'ACDC: compare |metric change| with the threshold' },
    { key: 'candidates', flag: 'candidates', type: 'string', describe: 'ACDC over candidates: METHOD:K scores every edge with METHOD (eap, eap-ig, eap-ig-inputs, eap-ig-activations; with its task metric and --steps) and tests only the K best (K < 1: a fraction of the edges; all: every edge); the rest are removed from the start' },
  ],
});
registerMethod({ name: 'eap', attributionOnly: true, kind: 'score', run: eap, defaultMetric: 'task', scoreSign: -1, checkpoints: false, options: [] });
const stepsOption: MethodOption = { key: 'steps', flag: 'steps', type: 'number', min: 1, describe: 'EAP-IG interpolation steps (default 5)' };
/** EAP-IG-inputs as MIB names it; `eap-ig` is the same method under its first name. */
registerMethod({ name: 'eap-ig', attributionOnly: true, kind: 'score', run: eapIg, defaultMetric: 'task', scoreSign: -1, checkpoints: false, options: [stepsOption] });
registerMethod({ name: 'eap-ig-inputs', attributionOnly: true, aliasOf: 'eap-ig', kind: 'score', run: eapIg, defaultMetric: 'task', scoreSign: -1, checkpoints: false, options: [stepsOption] });
registerMethod({ name: 'eap-ig-activations', attributionOnly: true, kind: 'score', run: eapIgActivations, defaultMetric: 'task', scoreSign: -1, checkpoints: false, options: [stepsOption] });
registerMethod({
  name: 'edge-pruning', kind: 'score', trainsMask: true, run: edgePruning, defaultMetric: 'kl', scoreSign: 1, defaultThreshold: 0.5, checkpoints: true,
  options: [
    { key: 'trainSteps', flag: 'train-steps', type: 'number', min: 1, describe: 'edge-pruning, mattr: optimisation steps, one edge-masked forward and backward each (default 300)' },
    { key: 'density', flag: 'density', type: 'number', list: true, int: false, above: 0, max: 1, describe: 'edge-pruning: target fraction of the edges kept, in (0, 1], or a comma-separated ladder of them, one training run each: the circuit is the sparsest one\'s, the others refine the ranking (default 0.05,0.5)' },
    { key: 'lr', flag: 'lr', type: 'number', int: false, above: 0, describe: 'edge-pruning, mattr: Adam learning rate (default 0.1 for edge-pruning, 0.3 for mattr)' },
  ],
});
registerMethod({
  name: 'mattr', kind: 'score', trainsMask: true, run: mattr, defaultMetric: 'task', scoreSign: 1, checkpoints: true,
  options: [
    { key: 'trainSteps', flag: 'train-steps', type: 'number', min: 1, describe: 'edge-pruning, mattr: optimisation steps, one edge-masked forward and backward each (default 300)' },
    { key: 'lr', flag: 'lr', type: 'number', int: false, above: 0, describe: 'edge-pruning, mattr: Adam learning rate (default 0.1 for edge-pruning, 0.3 for mattr)' },
  ],
});
