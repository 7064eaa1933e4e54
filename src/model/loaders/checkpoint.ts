/**
 * One entry point from a checkpoint spec to a validated TransformerLens state dict, read through
 * `ModelFiles` (./files.ts: Node's disk, or files in a browser's memory):
 * - a directory: Hugging Face GPT-2 when its config.json is a GPT-2 config (n_embd /
 *   model_type 'gpt2'), else TransformerLens (config.json + model.safetensors or model.pt);
 * - a weights file (.safetensors, .pt / .pth / .bin) with its config from `opts.config` or a
 *   config.json beside it; HF GPT-2 tensor names are recognised and converted;
 * - a model.safetensors.index.json (sharded HF checkpoint);
 * - a Hugging Face hub id ('gpt2', 'openai-community/gpt2'), when the caller can resolve hub ids
 *   to a folder (`opts.resolveHfName`: the Node cache lookup in ./hf-cache.ts).
 * Presets are not handled here (see ../load-model.ts). Every result passes `validateStateDict`,
 * so a config that disagrees with the weights fails naming the file and the tensor.
 */
import type { ModelConfig } from '../config.js';
import { validateStateDict, type StateDict } from '../weights.js';
import { readJsonFile, type ModelFiles } from './files.js';
import {
  convertHfGpt2, isHfGpt2Config, isHfGpt2StateDict, loadHfGpt2Dir, looksLikeHfName, readHfConfig, readShardedSafetensors,
} from './hf-gpt2.js';
import { loadTransformerLensDir, readConfigFile, readWeightsFile } from './transformer-lens.js';

export type CheckpointFormat = 'hf-gpt2' | 'transformer-lens-safetensors' | 'torch-pt';

export interface Checkpoint {
  config: ModelConfig;
  /** TransformerLens names and shapes, validated against `config` */
  stateDict: StateDict;
  /** the weights file (or shard index) the tensors came from */
  source: string;
  format: CheckpointFormat;
}

export interface LoadCheckpointOptions {
  /** a config JSON (either dialect) to use instead of the config.json beside the weights */
  config?: string;
}

export interface CheckpointFromOptions extends LoadCheckpointOptions {
  /** a hub id -> the snapshot folder holding it (throws saying how to get it); none: ids are not files */
  resolveHfName?: (name: string) => string;
}

/** Load the checkpoint `spec` (a folder or a file of `files`, or a hub id) and validate it. */
export function loadCheckpointFrom(files: ModelFiles, spec: string, opts: CheckpointFromOptions = {}): Checkpoint {
  const raw = loadUnvalidated(files, spec, opts);
  return { ...raw, stateDict: validateStateDict(raw.config, raw.stateDict, raw.source) };
}

function loadUnvalidated(files: ModelFiles, spec: string, opts: CheckpointFromOptions): Checkpoint {
  if (files.isDirectory(spec)) return loadDirectory(files, spec, opts);
  if (files.isFile(spec)) return loadFile(files, spec, opts);
  const pathLike = /^[.~/\\]/.test(spec) || spec.includes('\\') || /\.(safetensors|pt|pth|bin|json)$/i.test(spec);
  if (!pathLike && looksLikeHfName(spec) && opts.resolveHfName) {
    const dir = opts.resolveHfName(spec);
    const r = loadHfGpt2Dir(files, dir, { config: opts.config, name: spec.split('@')[0] });
    return { ...r, format: 'hf-gpt2' };
  }
  throw new Error(`loaders: ${spec}: no such file or directory`);
}

function loadDirectory(files: ModelFiles, dir: string, opts: LoadCheckpointOptions): Checkpoint {
  const own = files.join(dir, 'config.json');
  const cfgPath = opts.config ?? own;
  if (!files.isFile(cfgPath)) {
    throw new Error(`loaders: ${dir}: no config.json in this directory (a Hugging Face GPT-2 or TransformerLens model directory needs one; or pass a config file)`);
  }
  const dialectFrom = files.isFile(own) ? own : cfgPath;
  if (isHfGpt2Config(readJsonFile(files, dialectFrom, 'loaders'))) {
    return { ...loadHfGpt2Dir(files, dir, { config: opts.config }), format: 'hf-gpt2' };
  }
  const tl = loadTransformerLensDir(files, dir, { config: opts.config });
  if (isHfGpt2StateDict(tl.stateDict)) {
    return { config: tl.config, stateDict: convertHfGpt2(tl.config, tl.stateDict, tl.source), source: tl.source, format: 'hf-gpt2' };
  }
  return tl;
}

function loadFile(files: ModelFiles, file: string, opts: LoadCheckpointOptions): Checkpoint {
  const dir = files.dirname(file);
  const cfgPath = opts.config ?? files.join(dir, 'config.json');
  if (/\.json$/i.test(file) && !/\.index\.json$/i.test(file)) {
    throw new Error(`loaders: ${file}: this is a JSON file, not weights; pass the model directory or its weights file (config files go in the config option)`);
  }
  if (!files.isFile(cfgPath)) {
    throw new Error(`loaders: ${file}: no config for this weights file (looked for ${cfgPath}); put a config.json beside it or pass a config file`);
  }
  if (/\.index\.json$/i.test(file)) {
    const config = readHfConfig(files, cfgPath, files.basename(dir));
    const tensors = readShardedSafetensors(files, file, dir);
    return { config, stateDict: convertHfGpt2(config, tensors, file), source: file, format: 'hf-gpt2' };
  }
  const config = readConfigFile(files, cfgPath);
  const { tensors, format } = readWeightsFile(files, file);
  if (isHfGpt2StateDict(tensors)) {
    return { config, stateDict: convertHfGpt2(config, tensors, file), source: file, format: 'hf-gpt2' };
  }
  return { config, stateDict: tensors, source: file, format };
}
