/**
 * Write a trained model as a TransformerLens directory the loaders read back (`loadModel(dir)`
 * or, under models/, `loadModel(name)`): config.json (HookedTransformerConfig fields in
 * snake_case, plus the tokenizer and a `training` record), model.safetensors (F32, TransformerLens
 * names) and README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { writeSafetensors } from '../model/node-files.js';
import { validateStateDict, type StateDict } from '../model/weights.js';

/** The TransformerLens config JSON of a ModelConfig (what `fromTransformerLens` reads back). */
export function transformerLensConfigJson(cfg: ModelConfig): Record<string, unknown> {
  return {
    model_name: cfg.modelName,
    n_layers: cfg.nLayers,
    n_heads: cfg.nHeads,
    d_model: cfg.dModel,
    d_head: cfg.dHead,
    d_mlp: cfg.dMlp,
    n_ctx: cfg.nCtx,
    d_vocab: cfg.dVocab,
    d_vocab_out: cfg.dVocabOut,
    act_fn: cfg.actFn,
    normalization_type: cfg.normalizationType,
    attn_only: cfg.attnOnly,
    positional_embedding_type: cfg.positionalEmbeddingType,
    use_attn_scale: cfg.useAttnScale,
    attn_scale: cfg.attnScale,
    eps: cfg.eps,
    attn_ignore_value: cfg.attnIgnore,
    original_architecture: cfg.originalArchitecture,
    tokenizer_name: cfg.tokenizerName,
    default_prepend_bos: cfg.defaultPrependBos,
    bos_token_id: cfg.bosTokenId,
    ...(cfg.tokenizerVocab ? { tokenizer_vocab: cfg.tokenizerVocab } : {}),
  };
}

export interface ExportOptions {
  /** free-form record stored as config.json `training` (seed, steps, metrics, command) */
  training: Record<string, unknown>;
  readme: string;
}

/** Write dir/{config.json, model.safetensors, README.md}; returns the files written. */
export function exportModel(dir: string, cfg: ModelConfig, sd: StateDict, opts: ExportOptions): string[] {
  const full = validateStateDict(cfg, sd, `${cfg.modelName} (export)`);
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'config.json'), join(dir, 'model.safetensors'), join(dir, 'README.md')];
  writeFileSync(files[0], JSON.stringify({ ...transformerLensConfigJson(cfg), training: opts.training }, null, 1) + '\n');
  writeSafetensors(files[1], full, { format: 'pt', model: cfg.modelName });
  writeFileSync(files[2], opts.readme.endsWith('\n') ? opts.readme : opts.readme + '\n');
  return files;
}
