/**
 * TransformerLens checkpoints: a HookedTransformerConfig JSON (snake_case as TransformerLens
 * writes it, or camelCase) plus weights under TransformerLens names (`embed.W_E`,
 * `blocks.0.attn.W_Q` [H, D, Dh], ...), stored as .safetensors or as a torch.save state dict.
 * A directory holds config.json and model.safetensors (preferred) or model.pt / model.pth.
 * Buffers TransformerLens keeps in state dicts (attn.mask, attn.IGNORE) pass through here and
 * are dropped by `validateStateDict`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfigJson, type ModelConfig } from '../config.js';
import { readSafetensors } from '../safetensors.js';
import type { StateDict } from '../weights.js';
import { isFile, readJsonFile, weightsKind } from './files.js';
import { readTorchPt } from './torch-pt.js';

export type WeightsFormat = 'transformer-lens-safetensors' | 'torch-pt';

/** Read a config JSON of either dialect (TransformerLens or Hugging Face GPT-2). */
export function readConfigFile(path: string): ModelConfig {
  return resolveConfigJson(readJsonFile(path, 'config'), path);
}

/** Read the float tensors of a weights file, by extension (or content when the extension says nothing). */
export function readWeightsFile(path: string): { tensors: StateDict; format: WeightsFormat } {
  const kind = weightsKind(path);
  if (kind === 'safetensors') return { tensors: readSafetensors(path), format: 'transformer-lens-safetensors' };
  if (kind === 'torch') return { tensors: readTorchPt(path), format: 'torch-pt' };
  throw new Error(`loaders: ${path}: cannot tell the weights format (expected .safetensors or a torch .pt)`);
}

/** The weights file of a TransformerLens directory: model.safetensors, else model.pt / model.pth. */
export function transformerLensWeightsFile(dir: string): string {
  for (const f of ['model.safetensors', 'model.pt', 'model.pth']) {
    if (isFile(join(dir, f))) return join(dir, f);
  }
  let listing = '';
  try { listing = readdirSync(dir).join(', '); } catch { /* reported below */ }
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
export function loadTransformerLensDir(dir: string, opts: { config?: string } = {}): TlLoaded {
  const cfgPath = opts.config ?? join(dir, 'config.json');
  if (!isFile(cfgPath)) throw new Error(`transformer-lens: ${dir}: no config.json (looked for ${cfgPath})`);
  const config = readConfigFile(cfgPath);
  const source = transformerLensWeightsFile(dir);
  const { tensors, format } = readWeightsFile(source);
  return { config, stateDict: tensors, source, format };
}
