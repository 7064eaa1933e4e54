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

/** Activation functions we run; gelu_pytorch_tanh is gelu_new under another name. */
const ACT_FNS = ['gelu_new', 'gelu', 'relu', 'gelu_fast', 'gelu_pytorch_tanh'] as const;

function fail(source: string, msg: string): never {
  throw new Error(`config: ${source}: ${msg}`);
}

// ---------------------------------------------------------------------------------------------
// Field checks: one set of rules for every number, boolean and enum a config holds, used both
// on the JSON as written (errors name the key as spelled in the file: "n_head", "layer_norm_epsilon")
// and on the resolved config (errors name the camelCase field), so a config built in code and a
// config read from a file meet the same checks.

/** What a numeric field may hold: an integer or a finite number, within bounds. */
interface NumberRule {
  readonly int?: boolean;
  /** inclusive bounds */
  readonly min?: number;
  readonly max?: number;
  /** exclusive bounds */
  readonly gt?: number;
  readonly lt?: number;
  /** allow -Infinity / Infinity (only in-code configs can hold them: JSON has no infinities) */
  readonly infinite?: boolean;
  /** appended to the message, e.g. the sentinel value a field also accepts */
  readonly note?: string;
}

/** Sizes: layers, heads, widths, vocabularies, context length. */
const SIZE: NumberRule = { int: true, min: 1 };
/** Strictly positive reals: LayerNorm eps, the attention scale. */
const POSITIVE: NumberRule = { gt: 0 };
/** The value written into masked attention scores. */
const NEGATIVE: NumberRule = { lt: 0 };
const tokenId = (dVocab: number): NumberRule => ({ int: true, min: 0, max: dVocab - 1, note: `(a token id below the vocabulary size ${dVocab})` });

function ruleText(r: NumberRule): string {
  const bounds = [
    r.min !== undefined ? `>= ${r.min}` : '', r.gt !== undefined ? `> ${r.gt}` : '',
    r.max !== undefined ? `<= ${r.max}` : '', r.lt !== undefined ? `< ${r.lt}` : '',
  ].filter(Boolean).join(' and ');
  return `${r.int ? 'an integer' : r.infinite ? 'a number' : 'a finite number'}${bounds ? ` ${bounds}` : ''}${r.note ? ` ${r.note}` : ''}`;
}

/** A value as the message shows it (JSON spelling; NaN and the infinities as JavaScript writes them). */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** `v` if it satisfies `rule`, else a one-line error naming `source` and `field`. */
function checkNumber(source: string, field: string, v: unknown, rule: NumberRule): number {
  const ok = typeof v === 'number' && !Number.isNaN(v) && (rule.infinite || Number.isFinite(v)) && (!rule.int || Number.isInteger(v))
    && (rule.min === undefined || v >= rule.min) && (rule.max === undefined || v <= rule.max)
    && (rule.gt === undefined || v > rule.gt) && (rule.lt === undefined || v < rule.lt);
  // a number in quotes ("1e-5", "NaN") is a string in JSON: rejected, and flagged as such
  if (!ok) fail(source, `field "${field}" must be ${ruleText(rule)}, got ${shown(v)}${typeof v === 'string' ? ' (a string; write numbers without quotes)' : ''}`);
  return v as number;
}

function checkBool(source: string, field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(source, `field "${field}" must be true or false, got ${shown(v)}`);
  return v;
}

function checkOneOf<T extends string | null>(source: string, field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail(source, `field "${field}" must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${shown(v)}`);
  return v as T;
}

/**
 * Typed reads of a config JSON object. A field is named by its spellings (snake_case first,
 * then camelCase); the first one present is read and named in errors. Absent (undefined) gives
 * the default; null counts as absent only for the optional numbers (`optNum`).
 */
class ConfigFields {
  constructor(private readonly json: Record<string, unknown>, readonly source: string) {}

  key(names: string | readonly string[]): string {
    const list = typeof names === 'string' ? [names] : names;
    return list.find((n) => this.json[n] !== undefined) ?? list[0];
  }

  raw(names: string | readonly string[]): unknown {
    return this.json[this.key(names)];
  }

  num(names: string | readonly string[], rule: NumberRule): number {
    return checkNumber(this.source, this.key(names), this.raw(names), rule);
  }

  optNum(names: string | readonly string[], rule: NumberRule): number | undefined {
    const v = this.raw(names);
    return v === undefined || v === null ? undefined : this.num(names, rule);
  }

  bool(names: string | readonly string[], dflt: boolean): boolean {
    const v = this.raw(names);
    return v === undefined ? dflt : checkBool(this.source, this.key(names), v);
  }

  /** One of `allowed`; absent gives `dflt` (null is a value here: normalization_type null means none). */
  oneOf<T extends string | null>(names: string | readonly string[], allowed: readonly T[], dflt: T): T {
    const v = this.raw(names);
    return v === undefined ? dflt : checkOneOf(this.source, this.key(names), v, allowed);
  }

  optStr(names: string | readonly string[]): string | undefined {
    const v = this.raw(names);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') fail(this.source, `field "${this.key(names)}" must be a string, got ${shown(v)}`);
    return v;
  }
}

/** Fill defaults, validate and freeze. `source` names the file or preset in errors. */
export function finalizeConfig(p: Partial_, source: string): ModelConfig {
  const nLayers = checkNumber(source, 'nLayers', p.nLayers, SIZE);
  const nHeads = checkNumber(source, 'nHeads', p.nHeads, SIZE);
  const dModel = checkNumber(source, 'dModel', p.dModel, SIZE);
  if (p.dHead === undefined && dModel % nHeads !== 0) fail(source, `field "dHead" is missing and field "dModel" (${dModel}) is not a multiple of field "nHeads" (${nHeads})`);
  const dHead = p.dHead === undefined ? dModel / nHeads : checkNumber(source, 'dHead', p.dHead, SIZE);
  const attnOnly = checkBool(source, 'attnOnly', p.attnOnly ?? false);
  const dMlp = attnOnly ? null : p.dMlp === undefined || p.dMlp === null ? 4 * dModel : checkNumber(source, 'dMlp', p.dMlp, SIZE);
  const dVocab = checkNumber(source, 'dVocab', p.dVocab, SIZE);
  const dVocabOut = p.dVocabOut === undefined || p.dVocabOut === null || p.dVocabOut === -1 ? dVocab
    : checkNumber(source, 'dVocabOut', p.dVocabOut, { ...SIZE, note: '(or -1: the same as dVocab)' });
  const nCtx = checkNumber(source, 'nCtx', p.nCtx, SIZE);
  let actFn = (p.actFn ?? (attnOnly ? null : 'gelu_new')) as string | null;
  if (actFn === 'gelu_pytorch_tanh') actFn = 'gelu_new';
  if (!attnOnly) checkOneOf(source, 'actFn', actFn, ACT_FNS);
  const normalizationType = checkOneOf(source, 'normalizationType', p.normalizationType === undefined ? 'LN' : p.normalizationType, ['LN', 'LNPre', null] as const);
  const positionalEmbeddingType = checkOneOf(source, 'positionalEmbeddingType', p.positionalEmbeddingType ?? 'standard', ['standard', 'shortformer'] as const);
  const useAttnScale = checkBool(source, 'useAttnScale', p.useAttnScale ?? true);
  const attnScale = useAttnScale ? checkNumber(source, 'attnScale', p.attnScale ?? Math.sqrt(dHead), POSITIVE) : 1;
  const eps = checkNumber(source, 'eps', p.eps ?? 1e-5, POSITIVE);
  const attnIgnore = checkNumber(source, 'attnIgnore', p.attnIgnore ?? -1e5, { ...NEGATIVE, infinite: true });
  const bosTokenId = p.bosTokenId === undefined || p.bosTokenId === null ? null : checkNumber(source, 'bosTokenId', p.bosTokenId, tokenId(dVocab));
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
    attnScale,
    eps,
    attnIgnore,
    tokenizerName: p.tokenizerName === undefined ? null : p.tokenizerName,
    tokenizerVocab: tokenizerVocab === null ? null : Object.freeze([...tokenizerVocab]),
    defaultPrependBos: checkBool(source, 'defaultPrependBos', p.defaultPrependBos ?? (p.tokenizerName ? true : false)),
    bosTokenId,
    originalArchitecture: p.originalArchitecture ?? 'HookedTransformer',
    tiedEmbeddings: checkBool(source, 'tiedEmbeddings', p.tiedEmbeddings ?? false),
  };
  return Object.freeze(cfg);
}

/** From a Hugging Face GPT-2 config.json object (GPT2Config's field names). */
export function fromHfGpt2(json: Record<string, unknown>, source: string): ModelConfig {
  const f = new ConfigFields(json, source);
  const mt = json.model_type;
  if (mt !== undefined && mt !== 'gpt2') fail(source, `model_type ${JSON.stringify(mt)} is not supported (gpt2 only)`);
  if (f.bool('scale_attn_by_inverse_layer_idx', false)) fail(source, 'scale_attn_by_inverse_layer_idx=true is not supported');
  f.bool('reorder_and_upcast_attn', false); // a precision switch: the same numbers in float32
  const nEmbd = f.num('n_embd', SIZE);
  const nHead = f.num('n_head', SIZE);
  if (nEmbd % nHead !== 0) fail(source, `field "n_embd" (${nEmbd}) must be a multiple of field "n_head" (${nHead})`);
  f.optNum('n_ctx', SIZE); // legacy twin of n_positions, which sizes the position table
  const dVocab = f.num('vocab_size', SIZE);
  return finalizeConfig({
    modelName: f.optStr('_name_or_path') || source,
    nLayers: f.num('n_layer', SIZE),
    nHeads: nHead,
    dModel: nEmbd,
    dHead: nEmbd / nHead,
    dMlp: f.optNum('n_inner', SIZE) ?? 4 * nEmbd,
    nCtx: f.num('n_positions', SIZE),
    dVocab,
    actFn: f.oneOf('activation_function', ACT_FNS, 'gelu_new') as ActFn,
    normalizationType: 'LN',
    positionalEmbeddingType: 'standard',
    attnOnly: false,
    useAttnScale: f.bool('scale_attn_weights', true),
    eps: f.optNum('layer_norm_epsilon', POSITIVE) ?? 1e-5,
    attnIgnore: -Infinity,
    tokenizerName: 'gpt2',
    defaultPrependBos: true,
    bosTokenId: f.optNum('bos_token_id', tokenId(dVocab)) ?? 50256,
    originalArchitecture: 'GPT2LMHeadModel',
    tiedEmbeddings: f.bool('tie_word_embeddings', true),
  }, source);
}

/** From a TransformerLens HookedTransformerConfig JSON (snake_case as TL writes it, or camelCase). */
export function fromTransformerLens(json: Record<string, unknown>, source: string): ModelConfig {
  const f = new ConfigFields(json, source);
  const tok = f.optStr(['tokenizer_name', 'tokenizerName']);
  const gpt2Tok = tok !== undefined && /gpt2/i.test(tok);
  const attnOnly = f.bool(['attn_only', 'attnOnly'], false);
  const nHeads = f.num(['n_heads', 'nHeads'], SIZE);
  const dModel = f.num(['d_model', 'dModel'], SIZE);
  const dHead = f.optNum(['d_head', 'dHead'], SIZE);
  if (dHead === undefined && dModel % nHeads !== 0) {
    fail(source, `field "${f.key(['d_head', 'dHead'])}" is missing and field "${f.key(['d_model', 'dModel'])}" (${dModel}) is not a multiple of field "${f.key(['n_heads', 'nHeads'])}" (${nHeads})`);
  }
  // attention-only models have no MLP: d_mlp may be absent, null or 0 (TransformerLens ignores it)
  const dMlp = f.optNum(['d_mlp', 'dMlp'], attnOnly ? { int: true, min: 0 } : SIZE);
  const dVocab = f.num(['d_vocab', 'dVocab'], SIZE);
  // TransformerLens' sentinels: d_vocab_out -1 is d_vocab, attn_scale -1 is sqrt(d_head)
  const dVocabOut = f.raw(['d_vocab_out', 'dVocabOut']) === -1 ? undefined : f.optNum(['d_vocab_out', 'dVocabOut'], { ...SIZE, note: '(or -1: the same as d_vocab)' });
  const useAttnScale = f.bool(['use_attn_scale', 'useAttnScale'], true);
  const attnScale = f.raw(['attn_scale', 'attnScale']) === -1 || !useAttnScale ? undefined : f.optNum(['attn_scale', 'attnScale'], { ...POSITIVE, note: '(or -1: sqrt(d_head))' });
  return finalizeConfig({
    modelName: f.optStr(['model_name', 'modelName']) ?? source,
    nLayers: f.num(['n_layers', 'nLayers'], SIZE),
    nHeads,
    dModel,
    dHead,
    dMlp: attnOnly ? null : dMlp,
    nCtx: f.num(['n_ctx', 'nCtx'], SIZE),
    dVocab,
    dVocabOut,
    actFn: attnOnly ? undefined : (f.oneOf(['act_fn', 'actFn'], [...ACT_FNS, null], null) ?? undefined) as ActFn | undefined,
    normalizationType: f.oneOf(['normalization_type', 'normalizationType'], ['LN', 'LNPre', null] as const, 'LN'),
    positionalEmbeddingType: f.oneOf(['positional_embedding_type', 'positionalEmbeddingType'], ['standard', 'shortformer'] as const, 'standard'),
    attnOnly,
    useAttnScale,
    attnScale,
    eps: f.optNum('eps', POSITIVE),
    attnIgnore: f.optNum(['attn_ignore_value', 'attnIgnore'], NEGATIVE) ?? -1e5,
    tokenizerName: tok === 'word' ? 'word' : gpt2Tok ? 'gpt2' : null,
    tokenizerVocab: (f.raw(['tokenizer_vocab', 'tokenizerVocab']) as string[] | undefined) ?? null,
    defaultPrependBos: f.bool(['default_prepend_bos', 'defaultPrependBos'], Boolean(tok)),
    bosTokenId: f.optNum(['bos_token_id', 'bosTokenId'], tokenId(dVocab)) ?? (gpt2Tok ? 50256 : null),
    originalArchitecture: f.optStr(['original_architecture', 'originalArchitecture']) ?? 'HookedTransformer',
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
