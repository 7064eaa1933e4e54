/**
 * Tokenizer: known GPT-2 ids, the hf-gpt2-tiny fixture's real input_ids (tokenised by Hugging
 * Face), BOS handling, single-token errors, round trips, and the integer-id tokenizer of toy
 * models. Exact equality throughout (token ids are integers).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Gpt2Tokenizer, IdTokenizer, tokenizerFor } from '../../src/model/tokenizer.js';
import { finalizeConfig, presetConfig } from '../../src/model/config.js';
import { SHARED } from '../helpers.js';

const FIXTURE = `${SHARED}fixtures/hf-gpt2-tiny/`;

/** Just enough safetensors to read the fixture's I32 tensors: u64 LE header length, JSON, data. */
function readI32(file: string, name: string): { shape: number[]; data: Int32Array } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const h = header[name];
  if (!h) throw new Error(`${file}: no tensor ${name}`);
  if (h.dtype !== 'I32') throw new Error(`${file}: ${name} is ${h.dtype}, expected I32`);
  const bytes = new Uint8Array(buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]));
  return { shape: h.shape, data: new Int32Array(bytes.buffer) };
}

const tok = new Gpt2Tokenizer();

describe('Gpt2Tokenizer', () => {
  it('encodes known ids', () => {
    expect(tok.encode('Hello, world!')).toEqual([15496, 11, 995, 0]);
    expect(tok.encode(' Mary')).toEqual([5335]);
    expect(tok.encode(' John')).toEqual([1757]);
    expect(tok.encode('')).toEqual([]);
  });

  it('prepends BOS by default, as TransformerLens does', () => {
    expect(tok.toTokens('Hello, world!')).toEqual([50256, 15496, 11, 995, 0]);
    expect(tok.toTokens('Hello, world!', { prependBos: false })).toEqual([15496, 11, 995, 0]);
    expect(tok.bosTokenId).toBe(50256);
  });

  it('encodes <|endoftext|> in text as the special token 50256', () => {
    expect(tok.encode('<|endoftext|>Hello')).toEqual([50256, 15496]);
    expect(tok.idToString(50256)).toBe('<|endoftext|>');
  });

  it("matches Hugging Face's ids for the fixture prompts", () => {
    const ref = JSON.parse(readFileSync(`${FIXTURE}reference.json`, 'utf8')) as { prompts: string[] };
    const ids = readI32(`${FIXTURE}reference.safetensors`, 'input_ids');
    const lengths = readI32(`${FIXTURE}reference.safetensors`, 'lengths');
    const [B, T] = ids.shape;
    expect(B).toBe(ref.prompts.length);
    for (let i = 0; i < B; i++) {
      const row = Array.from(ids.data.subarray(i * T, (i + 1) * T));
      const len = lengths.data[i];
      // The prompts carry their own "<|endoftext|>", so no extra BOS.
      const ours = tok.toTokens(ref.prompts[i], { prependBos: false });
      expect(ours, `prompt ${i}: ${ref.prompts[i]}`).toEqual(row.slice(0, len));
      // Padding is 50256 (checks our reading of the fixture, not the tokenizer).
      expect(row.slice(len).every((x) => x === 50256)).toBe(true);
      // Same ids from the text without the literal special token plus the default BOS.
      expect(tok.toTokens(ref.prompts[i].replace(/^<\|endoftext\|>/, ''))).toEqual(ours);
    }
  });

  it('gives string tokens', () => {
    expect(tok.toStrTokens('When Mary and John')).toEqual(['<|endoftext|>', 'When', ' Mary', ' and', ' John']);
    expect(tok.toStrTokens('When Mary', { prependBos: false })).toEqual(['When', ' Mary']);
    expect(tok.toStrTokens([15496, 11])).toEqual(['Hello', ',']);
  });

  it('toSingleToken returns the id of one token and fails clearly otherwise', () => {
    expect(tok.toSingleToken(' Mary')).toBe(5335);
    expect(() => tok.toSingleToken(' Mary Ann')).toThrow("tokenizer: ' Mary Ann' is 2 tokens [5335, 5506], not one");
    expect(() => tok.toSingleToken('')).toThrow("tokenizer: '' is 0 tokens [], not one");
  });

  it('round-trips text through encode/decode', () => {
    for (const s of ['When Mary and John went to the store, John gave a drink to', 'naïve café — ☃ 😀', '  two  spaces\nand\ttabs', '<|endoftext|>x']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
    }
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => tok.idToString(50257)).toThrow(/token id 50257 is outside the vocabulary \[0, 50257\)/);
    expect(() => tok.decode([-1])).toThrow(/token id -1/);
  });
});

describe('IdTokenizer', () => {
  const ids = new IdTokenizer(201);

  it('parses comma or space separated ids', () => {
    expect(ids.encode('17,42,200')).toEqual([17, 42, 200]);
    expect(ids.encode(' 1, 2  3 ')).toEqual([1, 2, 3]);
    expect(ids.toTokens('17,42,200')).toEqual([17, 42, 200]);
    expect(ids.toStrTokens('3,4')).toEqual(['3', '4']);
    expect(ids.toStrTokens([5])).toEqual(['5']);
    expect(ids.decode([17, 42])).toBe('17,42');
    expect(ids.toSingleToken('7')).toBe(7);
  });

  it('fails clearly on bad ids', () => {
    expect(() => ids.encode('Hello')).toThrow(/'Hello' .* is not a non-negative integer token id/);
    expect(() => ids.encode('1,-2')).toThrow(/'-2'/);
    expect(() => ids.encode('201')).toThrow(/token id 201 is outside the vocabulary \[0, 201\)/);
    expect(() => ids.encode('')).toThrow(/holds no token ids/);
    expect(() => ids.toSingleToken('1,2')).toThrow("tokenizer: '1,2' is 2 tokens [1, 2], not one");
    expect(() => ids.toTokens('1', { prependBos: true })).toThrow(/no BOS token/);
  });

  it('prepends a BOS only when it has one', () => {
    const withBos = new IdTokenizer(10, 9);
    expect(withBos.toTokens('1,2')).toEqual([9, 1, 2]);
    expect(withBos.toTokens('1,2', { prependBos: false })).toEqual([1, 2]);
  });
});

describe('tokenizerFor', () => {
  it('picks GPT-2 BPE for gpt2 configs and integer ids otherwise', () => {
    expect(tokenizerFor(presetConfig('gpt2-small')).name).toBe('gpt2');
    const toy = finalizeConfig({ nLayers: 1, nHeads: 1, dModel: 8, nCtx: 3, dVocab: 201, attnOnly: true }, 'toy');
    const t = tokenizerFor(toy);
    expect(t.name).toBe('ids');
    expect(t.toTokens('17,42,200')).toEqual([17, 42, 200]);
    expect(() => t.encode('300')).toThrow(/outside the vocabulary \[0, 201\)/);
  });
});
