/**
 * TransformerLens checkpoints: a HookedTransformerConfig JSON (snake_case as TransformerLens
 * writes it, or camelCase) plus weights under TransformerLens names (`embed.W_E`,
 * `blocks.0.attn.W_Q` [H, D, Dh], ...), stored as .safetensors or as a torch.save state dict.
 * A directory holds config.json and model.safetensors (preferred) or model.pt / model.pth.
 * Buffers TransformerLens keeps in state dicts (attn.mask, attn.IGNORE) pass through here and
 * are dropped by `validateStateDict`.
 */
import { resolveConfigJson, type ModelConfig } from '../config.js';
import { readSafetensorsFile } from '../safetensors.js';
import type { StateDict } from '../weights.js';
import { readJsonFile, weightsKind, type ModelFiles } from './files.js';
import { readTorchPt } from './torch-pt.js';

export type WeightsFormat = 'transformer-lens-safetensors' | 'torch-pt';

/** Read a config JSON of either dialect (TransformerLens or Hugging Face GPT-2). */
export function readConfigFile(files: ModelFiles, path: string): ModelConfig {
  return resolveConfigJson(readJsonFile(files, path, 'config'), path);
}

/** Read the float tensors of a weights file, by extension (or content when the extension says nothing). */
export function readWeightsFile(files: ModelFiles, path: string): { tensors: StateDict; format: WeightsFormat } {
  const kind = weightsKind(files, path);
  if (kind === 'safetensors') return { tensors: readSafetensorsFile(files, path), format: 'transformer-lens-safetensors' };
  if (kind === 'torch') return { tensors: readTorchPt(files, path), format: 'torch-pt' };
  throw new Error(`loaders: ${path}: cannot tell the weights format (expected .safetensors or a torch .pt)`);
}

/** The weights file of a TransformerLens directory: model.safetensors, else model.pt / model.pth. */
export function transformerLensWeightsFile(files: ModelFiles, dir: string): string {
  for (const f of ['model.safetensors', 'model.pt', 'model.pth']) {
    if (files.isFile(files.join(dir, f))) return files.join(dir, f);
  }
  let listing = '';
  try { listing = files.list(dir).join(', '); } catch { /* reported below */ }
  throw new Error(`transformer-lens: ${dir}: no model.safetensors, model.pt or model.pth (found: ${listing || 'nothing'})`);
}

export interface TlLoaded {
  config: ModelConfig;
  /** TransformerLens names; not yet validated against the config */
  stateDict: StateDict;
  source: string;
  format: WeightsFormat;
}

/** Load a TransformerLens directory. `opts.config` replaces its config.json. */
export function loadTransformerLensDir(files: ModelFiles, dir: string, opts: { config?: string } = {}): TlLoaded {
  const cfgPath = opts.config ?? files.join(dir, 'config.json');
  if (!files.isFile(cfgPath)) throw new Error(`transformer-lens: ${dir}: no config.json (looked for ${cfgPath})`);
  const config = readConfigFile(files, cfgPath);
  const source = transformerLensWeightsFile(files, dir);
  const { tensors, format } = readWeightsFile(files, source);
  return { config, stateDict: tensors, source, format };
}
