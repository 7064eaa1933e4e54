/** One registry of discovery methods; it throws on duplicate keys and generates the CLI's choices. */
import type { DiscoveryContext, DiscoveryResult, MethodOptions } from './types.js';
import { acdc } from './acdc.js';
import { eap } from './eap.js';
import { eapIg } from './eap-ig.js';

export interface MethodEntry {
  name: string;
  /** 'prune': the method decides the circuit itself (ACDC); 'score': edges are scored, selection picks */
  kind: 'prune' | 'score';
  run: (ctx: DiscoveryContext, opts: MethodOptions & { checkpointKey?: string }) => DiscoveryResult;
  /** default metric */
  defaultMetric: 'kl' | 'task';
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

registerMethod({ name: 'acdc', kind: 'prune', run: acdc, defaultMetric: 'kl' });
registerMethod({ name: 'eap', kind: 'score', run: eap, defaultMetric: 'task' });
registerMethod({ name: 'eap-ig', kind: 'score', run: eapIg, defaultMetric: 'task' });
