/**
 * Tokenizers. GPT-2 models use the GPT-2 byte-level BPE from js-tiktoken (its bundled `gpt2`
 * ranks: no network, no files); toy models take integer token ids directly; word-level models
 * (the shipped IOI model) carry their vocabulary in config.json (`WordTokenizer`).
 *
 * Conventions follow TransformerLens: `toTokens` prepends BOS (`<|endoftext|>`, 50256 for
 * GPT-2) unless `{ prependBos: false }`; `toStrTokens` gives one string per token;
 * `toSingleToken` fails unless the text is exactly one token. `<|endoftext|>` written in the
 * text encodes as the special token (as Hugging Face's tokenizer does).
 */
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';
import type { ModelConfig } from './config.js';

export interface ToTokensOptions {
  /** prepend the BOS token (default: the tokenizer's default, true for GPT-2) */
  prependBos?: boolean;
}

export interface Tokenizer {
  readonly name: string;
  /** BOS id, or null when the tokenizer has none */
  readonly bosTokenId: number | null;
  /** ids of the text, no BOS */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** ids of the text, with BOS prepended unless `prependBos: false` */
  toTokens(text: string, opts?: ToTokensOptions): number[];
  /** one string per token; a string is tokenised with `toTokens(text, opts)` first */
  toStrTokens(textOrIds: string | readonly number[], opts?: ToTokensOptions): string[];
  /** the id of a text that is exactly one token; throws otherwise */
  toSingleToken(text: string): number;
  idToString(id: number): string;
}

export const GPT2_EOT = 50256;
const GPT2_VOCAB = 50257;

function quote(text: string): string {
  return `'${text}'`;
}

/** What every tokenizer derives from encode / toTokens / idToString. */
abstract class BaseTokenizer implements Tokenizer {
  abstract readonly name: string;
  abstract readonly bosTokenId: number | null;
  abstract encode(text: string): number[];
  abstract decode(ids: readonly number[]): string;
  abstract toTokens(text: string, opts?: ToTokensOptions): number[];
  abstract idToString(id: number): string;

  toStrTokens(textOrIds: string | readonly number[], opts: ToTokensOptions = {}): string[] {
    const ids = typeof textOrIds === 'string' ? this.toTokens(textOrIds, opts) : textOrIds;
    return ids.map((id) => this.idToString(id));
  }

  toSingleToken(text: string): number {
    const ids = this.encode(text);
    if (ids.length !== 1) throw new Error(`tokenizer: ${quote(text)} is ${ids.length} tokens [${ids.join(', ')}], not one`);
    return ids[0];
  }
}

/** GPT-2 byte-level BPE (r50k_base / gpt2 ranks). */
export class Gpt2Tokenizer extends BaseTokenizer {
  readonly name = 'gpt2';
  readonly bosTokenId = GPT2_EOT;
  private readonly enc: Tiktoken;

  constructor() {
    super();
    this.enc = new Tiktoken(gpt2Ranks);
  }

  encode(text: string): number[] {
    return this.enc.encode(text, ['<|endoftext|>']);
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) checkId('gpt2', id, GPT2_VOCAB);
    return this.enc.decode([...ids]);
  }

  toTokens(text: string, opts: ToTokensOptions = {}): number[] {
    const ids = this.encode(text);
    return (opts.prependBos ?? true) ? [GPT2_EOT, ...ids] : ids;
  }

  idToString(id: number): string {
    checkId('gpt2', id, GPT2_VOCAB);
    return this.enc.decode([id]);
  }
}

function checkId(name: string, id: number, vocab: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocab) {
    throw new Error(`tokenizer: ${name}: token id ${id} is outside the vocabulary [0, ${vocab})`);
  }
}

/**
 * Toy models: a token is an integer id in [0, dVocab). Text is a comma (or whitespace)
 * separated list of ids, "12,7,3"; there is no BOS unless one is given.
 */
export class IdTokenizer extends BaseTokenizer {
  readonly name = 'ids';

  constructor(readonly dVocab: number, readonly bosTokenId: number | null = null) {
    super();
    if (!Number.isInteger(dVocab) || dVocab <= 0) throw new Error(`tokenizer: ids: dVocab must be a positive integer, got ${dVocab}`);
    if (bosTokenId !== null) checkId('ids', bosTokenId, dVocab);
  }

  encode(text: string): number[] {
    const parts = text.split(/[\s,]+/).filter((s) => s !== '');
    if (parts.length === 0) throw new Error(`tokenizer: ids: ${quote(text)} holds no token ids (expected e.g. "12,7,3")`);
    return parts.map((p) => {
      if (!/^\d+$/.test(p)) throw new Error(`tokenizer: ids: ${quote(p)} in ${quote(text)} is not a non-negative integer token id (expected e.g. "12,7,3")`);
      const id = Number(p);
      checkId('ids', id, this.dVocab);
      return id;
    });
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) checkId('ids', id, this.dVocab);
    return ids.join(',');
  }

  toTokens(text: string, opts: ToTokensOptions = {}): number[] {
    const ids = this.encode(text);
    const bos = opts.prependBos ?? this.bosTokenId !== null;
    if (!bos) return ids;
    if (this.bosTokenId === null) throw new Error('tokenizer: ids: prependBos was asked for but this model has no BOS token');
    return [this.bosTokenId, ...ids];
  }

  idToString(id: number): string {
    checkId('ids', id, this.dVocab);
    return String(id);
  }
}

/** The BOS / padding word of word-level vocabularies (written like GPT-2's). */
export const WORD_BOS = '<|endoftext|>';
const WORD_SPLIT = /<\|endoftext\|>|[A-Za-z0-9]+(?:'[A-Za-z]+)?|[^\sA-Za-z0-9]/g;
const NO_SPACE_BEFORE = /^[.,!?;:)]$/;

/** Words and punctuation marks of a text, in order (whitespace separates, never a token). */
export function splitWords(text: string): string[] {
  return text.match(WORD_SPLIT) ?? [];
}

/**
 * A word-level vocabulary (the shipped IOI model, models/ioi-words): a token is a word
 * (letters/digits), a punctuation mark, or `<|endoftext|>`; whitespace only separates, so
 * " Mary" and "Mary" are the same token. Words outside the vocabulary are an error.
 */
export class WordTokenizer extends BaseTokenizer {
  readonly name = 'word';
  readonly bosTokenId: number | null;
  private readonly ids: Map<string, number>;

  constructor(readonly vocab: readonly string[], bosTokenId: number | null = null, private readonly prependByDefault = bosTokenId !== null) {
    super();
    this.ids = new Map(vocab.map((w, i) => [w, i]));
    if (this.ids.size !== vocab.length) throw new Error('tokenizer: word: the vocabulary repeats a word');
    if (bosTokenId !== null) checkId('word', bosTokenId, vocab.length);
    this.bosTokenId = bosTokenId;
  }

  encode(text: string): number[] {
    return splitWords(text).map((w) => {
      const id = this.ids.get(w);
      if (id === undefined) throw new Error(`tokenizer: word: ${quote(w)} in ${quote(text)} is not in the vocabulary (${this.vocab.length} words)`);
      return id;
    });
  }

  decode(ids: readonly number[]): string {
    let out = '';
    for (const id of ids) {
      const w = this.idToString(id);
      out += out === '' || NO_SPACE_BEFORE.test(w) ? w : ' ' + w;
    }
    return out;
  }

  toTokens(text: string, opts: ToTokensOptions = {}): number[] {
    const ids = this.encode(text);
    if (!(opts.prependBos ?? this.prependByDefault)) return ids;
    if (this.bosTokenId === null) throw new Error('tokenizer: word: prependBos was asked for but this vocabulary has no BOS token');
    return [this.bosTokenId, ...ids];
  }

  idToString(id: number): string {
    checkId('word', id, this.vocab.length);
    return this.vocab[id];
  }
}

/** The tokenizer a model config names: GPT-2 BPE for 'gpt2', the config's vocabulary for
 * 'word', integer ids otherwise. */
export function tokenizerFor(cfg: ModelConfig): Tokenizer {
  if (cfg.tokenizerName === 'gpt2') return new Gpt2Tokenizer();
  if (cfg.tokenizerName === 'word') {
    if (!cfg.tokenizerVocab) throw new Error(`tokenizer: ${cfg.modelName}: tokenizer 'word' but the config has no tokenizer_vocab`);
    return new WordTokenizer(cfg.tokenizerVocab, cfg.bosTokenId, cfg.defaultPrependBos && cfg.bosTokenId !== null);
  }
  return new IdTokenizer(cfg.dVocab, cfg.defaultPrependBos ? cfg.bosTokenId : null);
}
