/**
 * One registry of discovery methods; it throws on duplicate keys and generates the CLI's
 * choices. An entry carries what callers need to know of a method, so no method name is
 * hard-coded outside this folder: how it picks the circuit, the sign of its scores, its
 * default metric and threshold, whether it checkpoints, and its own options.
 */
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { acdc } from './acdc.js';
import { eap } from './eap.js';
import { eapIg } from './eap-ig.js';

/** A method's own CLI option (yargs style), forwarded to `run` under `key`. */
export interface MethodOption {
  key: keyof MethodOptions; flag: string; type: 'number' | 'boolean'; describe: string;
  /** numbers: integers from `min` up */
  min?: number;
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
  ],
});
registerMethod({ name: 'eap', kind: 'score', run: eap, defaultMetric: 'task', scoreSign: -1, checkpoints: false, options: [] });
registerMethod({
  name: 'eap-ig', kind: 'score', run: eapIg, defaultMetric: 'task', scoreSign: -1, checkpoints: false,
  options: [{ key: 'steps', flag: 'steps', type: 'number', min: 1, describe: 'EAP-IG interpolation steps (default 5)' }],
});
