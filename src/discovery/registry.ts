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
export interface MethodOption { key: keyof MethodOptions; flag: string; type: 'number' | 'boolean'; describe: string; default?: number | boolean }

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

registerMethod({
  name: 'acdc', kind: 'prune', run: acdc, defaultMetric: 'kl', scoreSign: 1, defaultThreshold: 0.01, checkpoints: true,
  options: [
    { key: 'speculate', flag: 'speculate', type: 'number', default: 1, describe: 'ACDC: removals evaluated per batched forward (same result); >1 pays off when per-op overhead dominates (few prompts, GPU), not on CPU with many prompts' },
  ],
});
registerMethod({ name: 'eap', kind: 'score', run: eap, defaultMetric: 'task', scoreSign: -1, checkpoints: false, options: [] });
registerMethod({
  name: 'eap-ig', kind: 'score', run: eapIg, defaultMetric: 'task', scoreSign: -1, checkpoints: false,
  options: [{ key: 'steps', flag: 'steps', type: 'number', default: 5, describe: 'EAP-IG interpolation steps' }],
});
