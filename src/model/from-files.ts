/**
 * From a model spec to a HookedTransformer, reading through `ModelFiles` (./loaders/files.ts): a
 * preset name (random weights, seeded, with a notice), a checkpoint folder or file of `files`,
 * or a hub id the caller can resolve. Optional weight processing is applied and recorded. No file
 * system and no console here: Node's entry point is ./load-model.ts (disk, shipped models,
 * the Hugging Face cache, notices on stderr); a browser passes `memoryFiles`.
 */
import { PRESETS, presetConfig, type ModelConfig } from './config.js';
import { randomStateDict, type StateDict } from './weights.js';
import { applyProcessing } from './processing.js';
import { HookedTransformer } from './transformer.js';
import { loadCheckpointFrom } from './loaders/checkpoint.js';
import type { ModelFiles } from './loaders/files.js';

export interface LoadModelOptions {
  /** config JSON for a bare weights file */
  config?: string;
  processing?: readonly string[];
  /** seed of the random weights of a preset */
  seed?: number;
  quiet?: boolean;
}

export interface LoadFromOptions extends LoadModelOptions {
  /** where notices go (a preset's random weights); none: dropped */
  notice?: (line: string) => void;
  /** a hub id -> its snapshot folder in `files` (Node: the local cache) */
  resolveHfName?: (name: string) => string;
}

export interface LoadedModel {
  model: HookedTransformer;
  source: string;
  format: string;
}

export interface LoadedStateDict {
  config: ModelConfig;
  stateDict: StateDict;
  source: string;
  format: string;
}

export function loadStateDictFrom(files: ModelFiles, spec: string, opts: LoadFromOptions = {}): LoadedStateDict {
  if (PRESETS[spec] && !files.isFile(spec) && !files.isDirectory(spec)) {
    const config = presetConfig(spec);
    if (!opts.quiet) opts.notice?.(`note: '${spec}' is a preset shape: using random weights (seed ${opts.seed ?? 0}); pass a checkpoint directory or a Hugging Face name for trained weights`);
    return { config, stateDict: randomStateDict(config, opts.seed ?? 0), source: `preset:${spec}`, format: 'random' };
  }
  const ck = loadCheckpointFrom(files, spec, { config: opts.config, resolveHfName: opts.resolveHfName });
  return { config: ck.config, stateDict: ck.stateDict, source: ck.source, format: ck.format };
}

/** A HookedTransformer from a state dict, with `processing` applied and recorded. */
export function modelFromStateDict(raw: LoadedStateDict, processing: readonly string[] = []): LoadedModel {
  const { config, stateDict } = applyProcessing(raw.config, raw.stateDict, processing);
  const model = HookedTransformer.fromStateDict(config, stateDict, { source: raw.source, processing });
  return { model, source: raw.source, format: raw.format };
}

export function loadModelFrom(files: ModelFiles, spec: string, opts: LoadFromOptions = {}): LoadedModel {
  return modelFromStateDict(loadStateDictFrom(files, spec, opts), opts.processing ?? []);
}
