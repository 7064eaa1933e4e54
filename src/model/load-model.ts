/**
 * One entry point from a model spec to a HookedTransformer: a preset name (random weights,
 * seeded, with a notice), a shipped model under models/, a checkpoint directory or file, or a
 * Hugging Face cache name. Optional weight processing is applied and recorded.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS, presetConfig, type ModelConfig } from './config.js';
import { randomStateDict, type StateDict } from './weights.js';
import { applyProcessing } from './processing.js';
import { HookedTransformer } from './transformer.js';
import { loadCheckpoint } from './loaders/index.js';

export interface LoadModelOptions {
  /** config JSON for a bare weights file */
  config?: string;
  processing?: readonly string[];
  /** seed of the random weights of a preset */
  seed?: number;
  quiet?: boolean;
}

export interface LoadedModel {
  model: HookedTransformer;
  source: string;
  format: string;
}

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

export async function loadStateDict(spec: string, opts: LoadModelOptions = {}): Promise<{ config: ModelConfig; stateDict: StateDict; source: string; format: string }> {
  if (PRESETS[spec] && !existsSync(spec)) {
    const config = presetConfig(spec);
    if (!opts.quiet) process.stderr.write(`note: '${spec}' is a preset shape: using random weights (seed ${opts.seed ?? 0}); pass a checkpoint directory or a Hugging Face name for trained weights\n`);
    return { config, stateDict: randomStateDict(config, opts.seed ?? 0), source: `preset:${spec}`, format: 'random' };
  }
  const shipped = !existsSync(spec) ? shippedModelPath(spec) : null;
  const ck = await loadCheckpoint(shipped ?? spec, opts.config ? { config: opts.config } : undefined);
  return { config: ck.config, stateDict: ck.stateDict, source: ck.source, format: ck.format };
}

export async function loadModel(spec: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const raw = await loadStateDict(spec, opts);
  const steps = opts.processing ?? [];
  const { config, stateDict } = applyProcessing(raw.config, raw.stateDict, steps);
  const model = HookedTransformer.fromStateDict(config, stateDict, { source: raw.source, processing: steps });
  return { model, source: raw.source, format: raw.format };
}
