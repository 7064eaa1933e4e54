/**
 * One entry point from a model spec to a HookedTransformer on Node's file system: a preset name
 * (random weights, seeded, with a notice on stderr), a shipped model under models/, a
 * checkpoint directory or file, or a Hugging Face cache name. Optional weight processing is
 * applied and recorded. The work is ./from-files.ts over `nodeFiles`; a browser calls that
 * module with files in memory and never imports this one.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFiles } from './node-files.js';
import { resolveHfName } from './loaders/hf-cache.js';
import { loadStateDictFrom, modelFromStateDict, type LoadedModel, type LoadedStateDict, type LoadModelOptions } from './from-files.js';

export type { LoadedModel, LoadModelOptions } from './from-files.js';

/** The project's shipped models (models/<name>/ with config.json). */
export const SHIPPED_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..', 'models');

export function shippedModelPath(name: string): string | null {
  // Works from src/ (tsx, vitest) and from dist/src/ (built).
  for (const base of [SHIPPED_DIR, resolve(dirname(fileURLToPath(import.meta.url)), '../..', 'models')]) {
    const p = join(base, name);
    if (existsSync(join(p, 'config.json'))) return p;
  }
  return null;
}

export async function loadStateDict(spec: string, opts: LoadModelOptions = {}): Promise<LoadedStateDict> {
  const shipped = !existsSync(spec) ? shippedModelPath(spec) : null;
  return loadStateDictFrom(nodeFiles, shipped ?? spec, {
    ...opts,
    notice: (line) => process.stderr.write(`${line}\n`),
    resolveHfName: (name) => resolveHfName(name),
  });
}

export async function loadModel(spec: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  return modelFromStateDict(await loadStateDict(spec, opts), opts.processing ?? []);
}
