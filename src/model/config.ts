/**
 * One frozen ModelConfig with TransformerLens' field stems in camelCase, resolved and validated
 * by `resolveConfig` from a Hugging Face GPT-2 config.json, a TransformerLens
 * HookedTransformerConfig JSON (snake_case or camelCase), or a preset name.
 */

export type ActFn = 'gelu_new' | 'gelu' | 'relu' | 'gelu_fast';
export type NormalizationType = 'LN' | 'LNPre' | null;
export type PositionalEmbeddingType = 'standard' | 'shortformer';

export interface ModelConfig {
  readonly modelName: string;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly dModel: number;
  readonly dHead: number;
  /** null for attention-only models */
  readonly dMlp: number | null;
  readonly nCtx: number;
  readonly dVocab: number;
  readonly dVocabOut: number;
  readonly actFn: ActFn | null;
  readonly normalizationType: NormalizationType;
  readonly positionalEmbeddingType: PositionalEmbeddingType;
  readonly attnOnly: boolean;
  readonly useAttnScale: boolean;
  /** the divisor of q.k; sqrt(dHead) unless the source says otherwise */
  readonly attnScale: number;
  readonly eps: number;
  /** value written into masked attention scores before the softmax */
  readonly attnIgnore: number;
  /** 'gpt2' for the GPT-2 BPE, 'word' for a word-level vocabulary (`tokenizerVocab`), null for
   * toy models fed integer ids */
  readonly tokenizerName: string | null;
  /** the words of a 'word' tokenizer, index = token id (config.json `tokenizer_vocab`); else null */
  readonly tokenizerVocab: readonly string[] | null;
  readonly defaultPrependBos: boolean;
  /** BOS token id when the model has one (GPT-2: 50256) */
  readonly bosTokenId: number | null;
  readonly originalArchitecture: string;
  readonly tiedEmbeddings: boolean;
}

type Partial_ = { -readonly [K in keyof ModelConfig]?: ModelConfig[K] };

const ACT_FNS = new Set(['gelu_new', 'gelu', 'relu', 'gelu_fast', 'gelu_pytorch_tanh']);

function fail(source: string, msg: string): never {
  throw new Error(`config: ${source}: ${msg}`);
}

function posInt(source: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(source, `${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Fill defaults, validate and freeze. `source` names the file or preset in errors. */
export function finalizeConfig(p: Partial_, source: string): ModelConfig {
  const nLayers = posInt(source, 'nLayers', p.nLayers);
  const nHeads = posInt(source, 'nHeads', p.nHeads);
  const dModel = posInt(source, 'dModel', p.dModel);
  const dHead = p.dHead === undefined ? (dModel % nHeads === 0 ? dModel / nHeads : fail(source, 'dHead missing and dModel is not a multiple of nHeads')) : posInt(source, 'dHead', p.dHead);
  const attnOnly = p.attnOnly ?? (p.dMlp === null || p.dMlp === undefined ? false : false);
  const dMlp = attnOnly ? null : p.dMlp === undefined || p.dMlp === null ? 4 * dModel : posInt(source, 'dMlp', p.dMlp);
  const dVocab = posInt(source, 'dVocab', p.dVocab);
  const dVocabOut = p.dVocabOut === undefined || p.dVocabOut === null || (p.dVocabOut as number) < 0 ? dVocab : posInt(source, 'dVocabOut', p.dVocabOut);
  const nCtx = posInt(source, 'nCtx', p.nCtx);
  let actFn = (p.actFn ?? (attnOnly ? null : 'gelu_new')) as string | null;
  if (actFn === 'gelu_pytorch_tanh') actFn = 'gelu_new';
  if (!attnOnly && (actFn === null || !ACT_FNS.has(actFn))) fail(source, `unsupported actFn ${JSON.stringify(actFn)} (relu, gelu, gelu_new)`);
  const normalizationType = p.normalizationType === undefined ? 'LN' : p.normalizationType;
  if (normalizationType !== null && normalizationType !== 'LN' && normalizationType !== 'LNPre') fail(source, `unsupported normalizationType ${JSON.stringify(normalizationType)}`);
  const positionalEmbeddingType = p.positionalEmbeddingType ?? 'standard';
  if (positionalEmbeddingType !== 'standard' && positionalEmbeddingType !== 'shortformer') fail(source, `unsupported positionalEmbeddingType ${JSON.stringify(positionalEmbeddingType)}`);
  const useAttnScale = p.useAttnScale ?? true;
  const tokenizerVocab = p.tokenizerVocab ?? null;
  if (p.tokenizerName === 'word') {
    if (!Array.isArray(tokenizerVocab) || tokenizerVocab.some((w) => typeof w !== 'string' || w === '')) fail(source, "tokenizer 'word' needs tokenizer_vocab: an array of non-empty strings");
    if (tokenizerVocab.length !== dVocab) fail(source, `tokenizer_vocab has ${tokenizerVocab.length} words but dVocab is ${dVocab}`);
    if (new Set(tokenizerVocab).size !== tokenizerVocab.length) fail(source, 'tokenizer_vocab repeats a word');
  }
  const cfg: ModelConfig = {
    modelName: p.modelName ?? source,
    nLayers, nHeads, dModel, dHead, dMlp, nCtx, dVocab, dVocabOut,
    actFn: attnOnly ? null : (actFn as ActFn),
    normalizationType,
    positionalEmbeddingType,
    attnOnly,
    useAttnScale,
    attnScale: useAttnScale ? (p.attnScale ?? Math.sqrt(dHead)) : 1,
    eps: p.eps ?? 1e-5,
    attnIgnore: p.attnIgnore ?? -1e5,
    tokenizerName: p.tokenizerName === undefined ? null : p.tokenizerName,
    tokenizerVocab: tokenizerVocab === null ? null : Object.freeze([...tokenizerVocab]),
    defaultPrependBos: p.defaultPrependBos ?? (p.tokenizerName ? true : false),
    bosTokenId: p.bosTokenId ?? null,
    originalArchitecture: p.originalArchitecture ?? 'HookedTransformer',
    tiedEmbeddings: p.tiedEmbeddings ?? false,
  };
  return Object.freeze(cfg);
}

/** From a Hugging Face GPT-2 config.json object. */
export function fromHfGpt2(json: Record<string, unknown>, source: string): ModelConfig {
  const mt = json.model_type;
  if (mt !== undefined && mt !== 'gpt2') fail(source, `model_type ${JSON.stringify(mt)} is not supported (gpt2 only)`);
  if (json.scale_attn_by_inverse_layer_idx === true) fail(source, 'scale_attn_by_inverse_layer_idx=true is not supported');
  const nEmbd = json.n_embd as number;
  const nHead = json.n_head as number;
  return finalizeConfig({
    modelName: (json._name_or_path as string) || source,
    nLayers: json.n_layer as number,
    nHeads: nHead,
    dModel: nEmbd,
    dHead: typeof nEmbd === 'number' && typeof nHead === 'number' ? nEmbd / nHead : undefined,
    dMlp: (json.n_inner as number | null) ?? (typeof nEmbd === 'number' ? 4 * nEmbd : undefined),
    nCtx: json.n_positions as number,
    dVocab: json.vocab_size as number,
    actFn: (json.activation_function as ActFn) ?? 'gelu_new',
    normalizationType: 'LN',
    positionalEmbeddingType: 'standard',
    attnOnly: false,
    useAttnScale: json.scale_attn_weights !== false,
    eps: (json.layer_norm_epsilon as number) ?? 1e-5,
    attnIgnore: -Infinity,
    tokenizerName: 'gpt2',
    defaultPrependBos: true,
    bosTokenId: (json.bos_token_id as number) ?? 50256,
    originalArchitecture: 'GPT2LMHeadModel',
    tiedEmbeddings: json.tie_word_embeddings !== false,
  }, source);
}

function pick(json: Record<string, unknown>, snake: string, camel: string): unknown {
  return json[snake] !== undefined ? json[snake] : json[camel];
}

/** From a TransformerLens HookedTransformerConfig JSON (snake_case as TL writes it, or camelCase). */
export function fromTransformerLens(json: Record<string, unknown>, source: string): ModelConfig {
  const get = (s: string, c: string) => pick(json, s, c);
  const tok = get('tokenizer_name', 'tokenizerName') as string | null | undefined;
  const attnOnly = (get('attn_only', 'attnOnly') as boolean | undefined) ?? false;
  const dMlp = get('d_mlp', 'dMlp') as number | null | undefined;
  const ignore = get('attn_ignore_value', 'attnIgnore') as number | undefined;
  return finalizeConfig({
    modelName: (get('model_name', 'modelName') as string) ?? source,
    nLayers: get('n_layers', 'nLayers') as number,
    nHeads: get('n_heads', 'nHeads') as number,
    dModel: get('d_model', 'dModel') as number,
    dHead: get('d_head', 'dHead') as number,
    dMlp: attnOnly ? null : (dMlp === null || dMlp === undefined ? undefined : dMlp),
    nCtx: get('n_ctx', 'nCtx') as number,
    dVocab: get('d_vocab', 'dVocab') as number,
    dVocabOut: get('d_vocab_out', 'dVocabOut') as number | undefined,
    actFn: (get('act_fn', 'actFn') as ActFn | null) ?? undefined,
    normalizationType: get('normalization_type', 'normalizationType') as NormalizationType,
    positionalEmbeddingType: get('positional_embedding_type', 'positionalEmbeddingType') as PositionalEmbeddingType | undefined,
    attnOnly,
    useAttnScale: get('use_attn_scale', 'useAttnScale') as boolean | undefined,
    attnScale: get('attn_scale', 'attnScale') as number | undefined,
    eps: get('eps', 'eps') as number | undefined,
    attnIgnore: ignore ?? -1e5,
    tokenizerName: tok === 'word' ? 'word' : tok && /gpt2/i.test(tok) ? 'gpt2' : null,
    tokenizerVocab: (get('tokenizer_vocab', 'tokenizerVocab') as string[] | undefined) ?? null,
    defaultPrependBos: (get('default_prepend_bos', 'defaultPrependBos') as boolean | undefined) ?? Boolean(tok),
    bosTokenId: (get('bos_token_id', 'bosTokenId') as number | undefined) ?? (tok && /gpt2/i.test(tok) ? 50256 : null),
    originalArchitecture: (get('original_architecture', 'originalArchitecture') as string) ?? 'HookedTransformer',
    tiedEmbeddings: false,
  }, source);
}

/** Presets: shapes of the models the literature uses (weights come from a loader). */
export const PRESETS: Readonly<Record<string, () => ModelConfig>> = Object.freeze({
  'gpt2-small': () => finalizeConfig({
    modelName: 'gpt2-small', nLayers: 12, nHeads: 12, dModel: 768, dHead: 64, dMlp: 3072, nCtx: 1024,
    dVocab: 50257, actFn: 'gelu_new', normalizationType: 'LN', positionalEmbeddingType: 'standard',
    attnIgnore: -Infinity, tokenizerName: 'gpt2', defaultPrependBos: true, bosTokenId: 50256,
    originalArchitecture: 'GPT2LMHeadModel', tiedEmbeddings: true,
  }, 'preset gpt2-small'),
  // TransformerLens 'attn-only-4l' (the docstring model): shortformer positions, NeoX-digits tokenizer.
  'attn-only-4l': () => finalizeConfig({
    modelName: 'attn-only-4l', nLayers: 4, nHeads: 8, dModel: 512, dHead: 64, nCtx: 2048, dVocab: 48262,
    attnOnly: true, normalizationType: 'LN', positionalEmbeddingType: 'shortformer',
    tokenizerName: null, defaultPrependBos: true,
  }, 'preset attn-only-4l'),
  // Redwood's 2-layer attention-only model (the induction model of ACDC).
  'redwood-attn-2l': () => finalizeConfig({
    modelName: 'redwood-attn-2l', nLayers: 2, nHeads: 8, dModel: 256, dHead: 32, nCtx: 2048, dVocab: 50259,
    attnOnly: true, normalizationType: 'LNPre', positionalEmbeddingType: 'shortformer',
    tokenizerName: null, defaultPrependBos: true,
  }, 'preset redwood-attn-2l'),
});

export function presetConfig(name: string): ModelConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`config: unknown preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  return p();
}

/** Resolve a parsed config JSON of either dialect. */
export function resolveConfigJson(json: unknown, source: string): ModelConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(source, 'not a JSON object');
  const o = json as Record<string, unknown>;
  if ('n_embd' in o || o.model_type === 'gpt2') return fromHfGpt2(o, source);
  if ('d_model' in o || 'dModel' in o) return fromTransformerLens(o, source);
  fail(source, 'neither a Hugging Face GPT-2 config (n_embd) nor a TransformerLens config (d_model)');
}
