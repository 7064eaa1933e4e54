/**
 * Config validation: every numeric field of a Hugging Face GPT-2 config.json, a TransformerLens
 * config and a config built in code is checked (integer / range / finite), booleans and enums
 * are type-checked, and each failure is one line naming the file and the field as spelled in it.
 * The shipped configs and the presets still resolve.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, SHARED } from '../helpers.js';
import { finalizeConfig, PRESETS, presetConfig, resolveConfigJson } from '../../src/model/config.js';

const HF_SAVE = `${SHARED}fixtures/hf-gpt2-tiny/hf-save`;
const HF = JSON.parse(readFileSync(`${HF_SAVE}/config.json`, 'utf8')) as Record<string, unknown>;
const TL = JSON.parse(readFileSync(`${SHARED}models/min_int/config.json`, 'utf8')) as Record<string, unknown>;
const FILE = '/models/x/config.json';

/** The message of resolving `json` (it must throw), checked to be one line naming the file. */
function errorOf(json: Record<string, unknown>): string {
  let msg = '';
  try {
    resolveConfigJson(json, FILE);
  } catch (e) {
    msg = (e as Error).message;
  }
  expect(msg, 'resolveConfigJson should have thrown').not.toBe('');
  expect(msg).not.toContain('\n');
  expect(msg.startsWith(`config: ${FILE}: `)).toBe(true);
  return msg;
}

describe('Hugging Face GPT-2 config.json', () => {
  it('the fixture resolves', () => {
    const cfg = resolveConfigJson(HF, FILE);
    expect(cfg).toMatchObject({ nLayers: 2, nHeads: 4, dModel: 64, dHead: 16, dMlp: 256, nCtx: 32, dVocab: 50257, eps: 1e-5, bosTokenId: 50256 });
  });

  it('eps -1 is rejected naming layer_norm_epsilon', () => {
    expect(errorOf({ ...HF, layer_norm_epsilon: -1 })).toBe(`config: ${FILE}: field "layer_norm_epsilon" must be a finite number > 0, got -1`);
    expect(errorOf({ ...HF, layer_norm_epsilon: 0 })).toMatch(/field "layer_norm_epsilon" must be a finite number > 0, got 0$/);
  });

  it('eps "NaN" (a string) is rejected naming layer_norm_epsilon', () => {
    expect(errorOf({ ...HF, layer_norm_epsilon: 'NaN' })).toMatch(/field "layer_norm_epsilon" must be a finite number > 0, got "NaN" \(a string/);
    // numbers in strings are rejected the same way, even when they would parse
    expect(errorOf({ ...HF, layer_norm_epsilon: '1e-5' })).toMatch(/field "layer_norm_epsilon" must be a finite number > 0, got "1e-5" \(a string/);
  });

  it('n_head 0 is rejected naming n_head', () => {
    expect(errorOf({ ...HF, n_head: 0 })).toMatch(/field "n_head" must be an integer >= 1, got 0$/);
  });

  it('n_layer 2.5 is rejected naming n_layer', () => {
    expect(errorOf({ ...HF, n_layer: 2.5 })).toMatch(/field "n_layer" must be an integer >= 1, got 2\.5$/);
  });

  it('vocab_size "abc" is rejected naming vocab_size', () => {
    expect(errorOf({ ...HF, vocab_size: 'abc' })).toMatch(/field "vocab_size" must be an integer >= 1, got "abc"/);
  });

  it('n_embd not a multiple of n_head is rejected naming both', () => {
    expect(errorOf({ ...HF, n_embd: 66 })).toMatch(/field "n_embd" \(66\) must be a multiple of field "n_head" \(4\)$/);
  });

  it('every other numeric field is checked', () => {
    expect(errorOf({ ...HF, n_positions: -3 })).toMatch(/field "n_positions" must be an integer >= 1, got -3$/);
    expect(errorOf({ ...HF, n_inner: 0 })).toMatch(/field "n_inner" must be an integer >= 1, got 0$/);
    expect(errorOf({ ...HF, n_ctx: 1.5 })).toMatch(/field "n_ctx" must be an integer >= 1/);
    expect(errorOf({ ...HF, bos_token_id: 50257 })).toMatch(/field "bos_token_id" must be an integer >= 0 and <= 50256/);
    const { n_layer: _, ...noLayers } = HF;
    expect(errorOf(noLayers)).toMatch(/field "n_layer" must be an integer >= 1, got nothing \(the field is missing\)$/);
    // null n_inner is GPT2Config's "4 * n_embd"
    expect(resolveConfigJson({ ...HF, n_inner: null }, FILE).dMlp).toBe(256);
  });

  it('booleans and the activation are type-checked', () => {
    expect(errorOf({ ...HF, tie_word_embeddings: 'false' })).toMatch(/field "tie_word_embeddings" must be true or false, got "false"/);
    expect(errorOf({ ...HF, scale_attn_weights: 1 })).toMatch(/field "scale_attn_weights" must be true or false, got 1$/);
    expect(errorOf({ ...HF, activation_function: 'swish' })).toMatch(/field "activation_function" must be one of .*"gelu_new".*, got "swish"/);
  });
});

describe('TransformerLens config', () => {
  it('a shipped config resolves', () => {
    expect(resolveConfigJson(TL, FILE)).toMatchObject({ nLayers: 1, nHeads: 1, dModel: 32, dHead: 32, dMlp: null, dVocab: 201, dVocabOut: 200 });
  });

  it('eps -1 and eps "NaN" are rejected naming eps', () => {
    expect(errorOf({ ...TL, eps: -1 })).toBe(`config: ${FILE}: field "eps" must be a finite number > 0, got -1`);
    expect(errorOf({ ...TL, eps: 'NaN' })).toMatch(/field "eps" must be a finite number > 0, got "NaN"/);
  });

  it('n_heads 0 and n_layers 2.5 are rejected naming the field', () => {
    expect(errorOf({ ...TL, n_heads: 0 })).toMatch(/field "n_heads" must be an integer >= 1, got 0$/);
    expect(errorOf({ ...TL, n_layers: 2.5 })).toMatch(/field "n_layers" must be an integer >= 1, got 2\.5$/);
  });

  it('d_vocab "abc" is rejected naming d_vocab', () => {
    expect(errorOf({ ...TL, d_vocab: 'abc' })).toMatch(/field "d_vocab" must be an integer >= 1, got "abc"/);
  });

  it('d_model not a multiple of n_heads without d_head is rejected naming the fields', () => {
    const { d_head: _, ...noHead } = TL;
    expect(errorOf({ ...noHead, n_heads: 3 })).toMatch(/field "d_head" is missing and field "d_model" \(32\) is not a multiple of field "n_heads" \(3\)$/);
    // with d_head given, d_model need not equal n_heads * d_head (TransformerLens allows it)
    expect(resolveConfigJson({ ...TL, n_heads: 3, d_head: 8 }, FILE)).toMatchObject({ nHeads: 3, dHead: 8, dModel: 32 });
  });

  it('camelCase keys are named as written', () => {
    const camel = { dModel: 8, nHeads: 2, nLayers: 1, nCtx: 4, dVocab: 5, attnOnly: true };
    expect(resolveConfigJson(camel, FILE)).toMatchObject({ dHead: 4, dMlp: null });
    expect(errorOf({ ...camel, nCtx: 0 })).toMatch(/field "nCtx" must be an integer >= 1, got 0$/);
  });

  it('d_mlp may be 0 or absent for attention-only models, not otherwise', () => {
    expect(resolveConfigJson({ ...TL, d_mlp: 0 }, FILE).dMlp).toBeNull();
    expect(errorOf({ ...TL, d_mlp: -1 })).toMatch(/field "d_mlp" must be an integer >= 0, got -1$/);
    const mlp = { ...TL, attn_only: false, act_fn: 'relu', normalization_type: 'LN' };
    expect(resolveConfigJson({ ...mlp, d_mlp: 64 }, FILE).dMlp).toBe(64);
    expect(resolveConfigJson({ ...mlp, d_mlp: null }, FILE).dMlp).toBe(128);
    expect(errorOf({ ...mlp, d_mlp: 0 })).toMatch(/field "d_mlp" must be an integer >= 1, got 0$/);
  });

  it("TransformerLens' -1 sentinels and the other numbers", () => {
    expect(resolveConfigJson({ ...TL, d_vocab_out: -1 }, FILE).dVocabOut).toBe(201);
    expect(resolveConfigJson({ ...TL, attn_scale: -1 }, FILE).attnScale).toBeCloseTo(Math.sqrt(32), 12);
    expect(errorOf({ ...TL, d_vocab_out: -2 })).toMatch(/field "d_vocab_out" must be an integer >= 1 \(or -1: the same as d_vocab\), got -2$/);
    expect(errorOf({ ...TL, attn_scale: 0 })).toMatch(/field "attn_scale" must be a finite number > 0 \(or -1: sqrt\(d_head\)\), got 0$/);
    expect(errorOf({ ...TL, attn_ignore_value: 5 })).toMatch(/field "attn_ignore_value" must be a finite number < 0, got 5$/);
    expect(errorOf({ ...TL, bos_token_id: 201 })).toMatch(/field "bos_token_id" must be an integer >= 0 and <= 200/);
    expect(errorOf({ ...TL, n_ctx: null })).toMatch(/field "n_ctx" must be an integer >= 1, got null$/);
  });

  it('booleans and enums are type-checked', () => {
    expect(errorOf({ ...TL, attn_only: 'yes' })).toMatch(/field "attn_only" must be true or false, got "yes"/);
    expect(errorOf({ ...TL, use_attn_scale: 0 })).toMatch(/field "use_attn_scale" must be true or false, got 0$/);
    expect(errorOf({ ...TL, default_prepend_bos: null })).toMatch(/field "default_prepend_bos" must be true or false, got null$/);
    expect(errorOf({ ...TL, normalization_type: 'RMS' })).toMatch(/field "normalization_type" must be one of "LN", "LNPre", null, got "RMS"$/);
    expect(errorOf({ ...TL, positional_embedding_type: 'rotary' })).toMatch(/field "positional_embedding_type" must be one of/);
  });
});

describe('configs built in code', () => {
  const base = { modelName: 't', nLayers: 1, nHeads: 2, dModel: 8, nCtx: 4, dVocab: 10, attnOnly: true } as const;

  it('the presets and the shipped configs pass', () => {
    for (const name of Object.keys(PRESETS)) expect(presetConfig(name).modelName).toBe(name);
    for (const m of ['min_int', 'majority_element', 'sort_fixed_len_list', 'permute_lists']) {
      const file = `${SHARED}models/${m}/config.json`;
      expect(resolveConfigJson(JSON.parse(readFileSync(file, 'utf8')), file).nLayers).toBeGreaterThan(0);
    }
  });

  it('the same rules apply, naming the camelCase field', () => {
    expect(() => finalizeConfig({ ...base, eps: -1 }, 'toy')).toThrow('config: toy: field "eps" must be a finite number > 0, got -1');
    expect(() => finalizeConfig({ ...base, eps: NaN }, 'toy')).toThrow('field "eps" must be a finite number > 0, got NaN');
    expect(() => finalizeConfig({ ...base, nHeads: 0 }, 'toy')).toThrow('field "nHeads" must be an integer >= 1, got 0');
    expect(() => finalizeConfig({ ...base, nLayers: 2.5 }, 'toy')).toThrow('field "nLayers" must be an integer >= 1, got 2.5');
    expect(() => finalizeConfig({ ...base, nHeads: 3 }, 'toy')).toThrow('field "dHead" is missing and field "dModel" (8) is not a multiple of field "nHeads" (3)');
    expect(() => finalizeConfig({ ...base, attnScale: Infinity }, 'toy')).toThrow('field "attnScale" must be a finite number > 0, got Infinity');
    // -Infinity is a legitimate masked-score value in code (GPT-2 uses it)
    expect(finalizeConfig({ ...base, attnIgnore: -Infinity }, 'toy').attnIgnore).toBe(-Infinity);
  });
});

describe('the CLI', () => {
  let tmp: string;
  beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'circuitscope-config-')); });
  afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

  it('a config.json with layer_norm_epsilon -1: exit 1, one line naming the file and the field, nothing on stdout', async () => {
    const dir = join(tmp, 'eps-minus-one');
    mkdirSync(dir);
    symlinkSync(`${HF_SAVE}/model.safetensors`, join(dir, 'model.safetensors'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ ...HF, layer_norm_epsilon: -1 }));
    const r = await runCli(['logits', '--model', dir, '--text', 'Hello']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`config: ${file}: field "layer_norm_epsilon" must be a finite number > 0, got -1`);
  });
});
