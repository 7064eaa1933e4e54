/**
 * The shipped word-level IOI model (models/ioi-words): a small GPT-2-style transformer (LN,
 * GELU MLPs, learned positions, tied embeddings) trained from scratch on synthetic IOI
 * sentences, so that `circuitscope discover --task ioi` runs with no download.
 *
 * Vocabulary: `<|endoftext|>` (BOS and padding), the words and punctuation of every IOI
 * template in src/tasks/ioi/data.ts, the places, the objects and the 99 names; one word = one
 * token (WordTokenizer).
 *
 * Training data: "Then, Mary and John went to the store. John gave a ring to" with the loss at
 * the last token only (target: the IO name), ABBA and BABA halves, BOS prepended to half the
 * rows (the task feeds prompts without BOS, as ACDC does), rows right-padded with BOS.
 *
 * Held out, never in a training sentence: 19 of the 99 names (every fifth) and 3 of the 15
 * templates (each in its ABBA and BABA form). So that held-out names are a real test and not
 * untrained noise, no name is learned individually: a name's embedding is a random code in a
 * fixed `codeDim`-dimensional random subspace plus one trained "is a name" vector shared by all
 * names, and the unembedding is tied to the embedding (W_U = W_E^T, GPT-2's choice; no b_U).
 * A growing share of training batches (`resampleCodes`, ramped from 0) draws fresh codes, so
 * the model has to learn a mechanism that works for any name code rather than memorise the
 * shipped codes of the training names (codes are fixed at first because a model that only
 * ever sees fresh codes stays on the "either name" plateau far longer).
 *
 * What limits accuracy: 99 random codes in 16 dimensions overlap (the closest other code to a
 * name has cosine ~0.6 on average), so another name sometimes outscores IO on a held-out name; IO vs S
 * is almost always right (see models/README.md).
 */
import * as tf from '@tensorflow/tfjs';
import { finalizeConfig, type ModelConfig } from '../model/config.js';
import { splitWords, WordTokenizer, WORD_BOS } from '../model/tokenizer.js';
import { expectedShapes, hostTensor, validateStateDict, type StateDict } from '../model/weights.js';
import { ABBA_TEMPLATES, ABC_TEMPLATES, BABA_TEMPLATES, BAC_TEMPLATES, NAMES, OBJECTS, PLACES } from '../tasks/ioi/data.js';
import { fillTemplate, IOI_SHIPPED_MODEL } from '../tasks/ioi/index.js';
import { Rng } from '../util/rng.js';
import { trainForward, type ParamLookup } from './forward.js';
import { gaussian, initStateDict } from './init.js';
import { train, type Parametrization, type TrainBatch, type TrainResult } from './train.js';

export const IOI_NAME = IOI_SHIPPED_MODEL;

/** Template indices (into ABBA_TEMPLATES / BABA_TEMPLATES) kept out of training. Their words all
 * occur in training templates. */
export const HELD_OUT_TEMPLATES: readonly number[] = Object.freeze([5, 8, 11]);

/** Every fifth name (19 of 99) is kept out of training. */
export const HELD_OUT_NAMES: readonly string[] = Object.freeze(NAMES.filter((_, i) => i % 5 === 4));
export const TRAIN_NAMES: readonly string[] = Object.freeze(NAMES.filter((_, i) => i % 5 !== 4));

/** The vocabulary: BOS, template words and punctuation (first appearance), places, objects, names. */
export function ioiVocab(): string[] {
  const words: string[] = [WORD_BOS];
  const seen = new Set(words);
  const add = (w: string) => { if (!seen.has(w)) { seen.add(w); words.push(w); } };
  for (const t of [...ABBA_TEMPLATES, ...BABA_TEMPLATES, ...ABC_TEMPLATES, ...BAC_TEMPLATES]) {
    for (const w of splitWords(t.replace(/\[(A|B|C|PLACE|OBJECT)\]/g, ' '))) add(w);
  }
  for (const w of [...PLACES, ...OBJECTS, ...NAMES]) add(w);
  return words;
}

export interface IoiRecipe {
  seed: number;
  nLayers: number;
  nHeads: number;
  dModel: number;
  dMlp: number;
  nCtx: number;
  /** dimension of the random subspace holding the name codes */
  codeDim: number;
  /** fraction of training batches that draw fresh name codes instead of the shipped ones (with
   * `resampleRamp`, the fraction grows linearly from 0 to this over training) */
  resampleCodes: number;
  resampleRamp: boolean;
  steps: number;
  batch: number;
  lr: number;
  weightDecay: number;
}

export const IOI_RECIPE: IoiRecipe = {
  seed: 0, nLayers: 2, nHeads: 4, dModel: 64, dMlp: 256, nCtx: 32, codeDim: 16, resampleCodes: 0.8, resampleRamp: true,
  steps: 1200, batch: 64, lr: 3e-3, weightDecay: 0.01,
};

export function ioiConfig(r: Pick<IoiRecipe, 'nLayers' | 'nHeads' | 'dModel' | 'dMlp' | 'nCtx'>): ModelConfig {
  const vocab = ioiVocab();
  return finalizeConfig({
    modelName: IOI_NAME, nLayers: r.nLayers, nHeads: r.nHeads, dModel: r.dModel, dHead: r.dModel / r.nHeads, dMlp: r.dMlp,
    nCtx: r.nCtx, dVocab: vocab.length, actFn: 'gelu_new', normalizationType: 'LN', positionalEmbeddingType: 'standard',
    tokenizerName: 'word', tokenizerVocab: vocab, defaultPrependBos: true, bosTokenId: 0, tiedEmbeddings: true,
  }, IOI_NAME);
}

export type IoiSplit = 'train' | 'held-out';

export interface IoiRows {
  tokens: number[][];
  /** last prompt token of each row */
  positions: number[];
  io: number[];
  s: number[];
  text: string[];
}

/**
 * `n` IOI prompts with the names of `split` and the templates of `templateSplit` (default: the
 * same split), half ABBA / half BABA at random, BOS on a row with probability `bosRate`,
 * right-padded with BOS.
 */
export function ioiRows(tok: WordTokenizer, n: number, seed: number, split: IoiSplit, bosRate = 0.5, templateSplit: IoiSplit = split): IoiRows {
  const rng = new Rng(seed);
  const names = split === 'train' ? TRAIN_NAMES : HELD_OUT_NAMES;
  const tids = ABBA_TEMPLATES.map((_, i) => i).filter((i) => HELD_OUT_TEMPLATES.includes(i) === (templateSplit === 'held-out'));
  const raw: number[][] = [];
  const out: IoiRows = { tokens: [], positions: [], io: [], s: [], text: [] };
  for (let i = 0; i < n; i++) {
    const t = rng.pick(tids);
    const template = rng.next() < 0.5 ? ABBA_TEMPLATES[t] : BABA_TEMPLATES[t];
    const io = rng.pick(names);
    let s = rng.pick(names);
    while (s === io) s = rng.pick(names);
    const text = fillTemplate(template, { io, s1: s, s2: s, place: rng.pick(PLACES), object: rng.pick(OBJECTS) });
    const ids = tok.toTokens(text, { prependBos: rng.next() < bosRate });
    raw.push(ids);
    out.positions.push(ids.length - 1);
    out.io.push(tok.toSingleToken(io));
    out.s.push(tok.toSingleToken(s));
    out.text.push(text);
  }
  const T = Math.max(...raw.map((r) => r.length));
  const pad = tok.bosTokenId ?? 0;
  out.tokens = raw.map((r) => [...r, ...Array.from({ length: T - r.length }, () => pad)]);
  return out;
}

function toTrainBatch(r: IoiRows): TrainBatch {
  return { tokens: r.tokens, targets: r.tokens.map((row, i) => row.map((_, t) => (t === r.positions[i] ? r.io[i] : -1))) };
}

export interface IoiScores {
  /** mean logit(IO) - logit(S) at the last prompt token */
  logitDiff: number;
  /** fraction of rows whose argmax over the whole vocabulary is IO */
  accuracy: number;
  /** fraction of rows with logit(IO) > logit(S) */
  fracCorrect: number;
  /** mean cross-entropy of IO */
  loss: number;
  n: number;
}

/** Scores of a forward on IOI rows (chunked; no tensors left behind). */
export function ioiScores(forward: (tokens: tf.Tensor2D) => tf.Tensor3D, r: IoiRows, chunk = 512): IoiScores {
  let ld = 0, acc = 0, frac = 0, loss = 0;
  const n = r.tokens.length;
  for (let s0 = 0; s0 < n; s0 += chunk) {
    const rows = r.tokens.slice(s0, s0 + chunk);
    const m = rows.length, T = rows[0].length;
    const sums = tf.tidy(() => {
      const logits = forward(tf.tensor2d(rows, [m, T], 'int32'));
      const V = logits.shape[2];
      const idx = tf.tensor1d(r.positions.slice(s0, s0 + m).map((p, i) => i * T + p), 'int32');
      const last = tf.gather(tf.reshape(logits, [m * T, V]), idx); // [m, V]
      const io = tf.tensor1d(r.io.slice(s0, s0 + m), 'int32'), s = tf.tensor1d(r.s.slice(s0, s0 + m), 'int32');
      const at = (ids: tf.Tensor1D) => tf.sum(tf.mul(last, tf.oneHot(ids, V)), -1);
      const d = tf.sub(at(io), at(s));
      const lp = tf.sum(tf.mul(tf.logSoftmax(last, -1), tf.oneHot(io, V)), -1);
      return tf.stack([tf.sum(d), tf.sum(tf.cast(tf.equal(tf.argMax(last, -1), io), 'float32')), tf.sum(tf.cast(tf.greater(d, 0), 'float32')), tf.neg(tf.sum(lp))]);
    });
    const v = sums.dataSync();
    sums.dispose();
    ld += v[0]; acc += v[1]; frac += v[2]; loss += v[3];
  }
  return { logitDiff: ld / n, accuracy: acc / n, fracCorrect: frac / n, loss: loss / n, n };
}

/**
 * The training parametrization: every TransformerLens parameter is a variable except the
 * embedding and unembedding. W_E = free rows for non-name words, (fixed code + shared name
 * vector) for names; W_U = W_E^T; b_U = 0.
 */
export class IoiParametrization implements Parametrization {
  readonly variables = new Map<string, tf.Variable>();
  private readonly constants = new Map<string, tf.Tensor>();
  private readonly basis: Float32Array[] = [];
  private readonly isName: Float32Array;
  /** the codes the model ships with */
  private readonly fixedCodes: Float32Array;

  constructor(readonly cfg: ModelConfig, seed: number, codeDim: number) {
    const vocab = cfg.tokenizerVocab;
    if (!vocab) throw new Error('train: ioi: the config has no word vocabulary');
    const { dModel: D, dVocab: V } = cfg;
    if (codeDim > D) throw new Error(`train: ioi: codeDim ${codeDim} exceeds dModel ${D}`);
    const sd = validateStateDict(cfg, initStateDict(cfg, seed), IOI_NAME);
    for (const [name, t] of sd) {
      if (name === 'embed.W_E' || name === 'unembed.W_U') continue;
      const x = tf.tensor(t.data, t.shape as number[], 'float32');
      if (name === 'unembed.b_U') { this.constants.set(name, x); continue; }
      this.variables.set(name, tf.variable(x, true));
      x.dispose();
    }
    const isName = new Float32Array(V);
    const nameSet = new Set(NAMES);
    vocab.forEach((w, i) => { if (nameSet.has(w)) isName[i] = 1; });
    // Codes: an orthonormal basis Q of a random codeDim-dim subspace (Gram-Schmidt), then
    // code_n = Q z_n with z_n ~ N(0, I / codeDim): norm about 1.
    const rng = new Rng(seed + 0x5eed);
    while (this.basis.length < codeDim) {
      const v = Float32Array.from({ length: D }, () => gaussian(rng));
      for (const q of this.basis) { let d = 0; for (let i = 0; i < D; i++) d += v[i] * q[i]; for (let i = 0; i < D; i++) v[i] -= d * q[i]; }
      const nrm = Math.hypot(...v);
      if (nrm > 1e-3) this.basis.push(v.map((x) => x / nrm));
    }
    this.isName = isName;
    this.fixedCodes = this.drawCodes(rng);
    this.constants.set('codes', tf.tensor2d(this.fixedCodes, [V, D]));
    this.constants.set('isName', tf.tensor2d(isName, [V, 1]));
    const free = sd.get('embed.W_E')!;
    const freeT = tf.tensor2d(free.data, [V, D]);
    this.variables.set('embed.free', tf.variable(freeT, true));
    freeT.dispose();
    const nameVec = tf.zeros([1, D]);
    this.variables.set('embed.name', tf.variable(nameVec, true));
    nameVec.dispose();
  }

  private drawCodes(rng: Rng): Float32Array {
    const { dModel: D, dVocab: V } = this.cfg;
    const codes = new Float32Array(V * D);
    for (let w = 0; w < V; w++) {
      if (!this.isName[w]) continue;
      for (const q of this.basis) { const z = gaussian(rng) / Math.sqrt(this.basis.length); for (let i = 0; i < D; i++) codes[w * D + i] += z * q[i]; }
    }
    return codes;
  }

  /** Use fresh random name codes (same subspace) until the next call; `null` restores the shipped ones. */
  setCodes(rng: Rng | null): void {
    this.constants.get('codes')?.dispose();
    this.constants.set('codes', tf.tensor2d(rng ? this.drawCodes(rng) : this.fixedCodes, [this.cfg.dVocab, this.cfg.dModel]));
  }

  private embed(): tf.Tensor {
    const c = (k: string) => this.constants.get(k)!, v = (k: string) => this.variables.get(k)!;
    const isName = c('isName');
    return tf.add(tf.mul(v('embed.free'), tf.sub(1, isName)), tf.mul(tf.add(c('codes'), v('embed.name')), isName));
  }

  readonly param: ParamLookup = (name) => {
    if (name === 'embed.W_E') return this.embed();
    if (name === 'unembed.W_U') return tf.transpose(this.embed());
    const t = this.variables.get(name) ?? this.constants.get(name);
    if (!t) throw new Error(`train: ioi: no parameter '${name}'`);
    return t;
  };

  stateDict(): StateDict {
    const sd: StateDict = new Map();
    for (const [name, shape] of expectedShapes(this.cfg)) {
      const t = tf.tidy(() => this.param(name));
      sd.set(name, hostTensor(shape, new Float32Array(t.dataSync())));
      if (!this.variables.has(name) && !this.constants.has(name)) t.dispose();
    }
    return sd;
  }

  dispose(): void {
    for (const t of [...this.variables.values(), ...this.constants.values()]) t.dispose();
    this.variables.clear();
    this.constants.clear();
  }
}

export interface TrainedIoi {
  model: IoiParametrization;
  result: TrainResult;
  /** held-out names and templates, with and without BOS */
  heldOut: IoiScores & { seed: number };
  train: IoiScores & { seed: number };
}

export function trainIoi(r: IoiRecipe = IOI_RECIPE, log: (s: string) => void = () => {}): TrainedIoi {
  const cfg = ioiConfig(r);
  const tok = new WordTokenizer(cfg.tokenizerVocab!, cfg.bosTokenId);
  const model = new IoiParametrization(cfg, r.seed, r.codeDim);
  const fwd = (t: tf.Tensor2D) => trainForward(cfg, model.param, t);
  const evalHeld = ioiRows(tok, 512, 1_000_000 + r.seed, 'held-out');
  const result = train(model, {
    steps: r.steps, lr: r.lr, weightDecay: r.weightDecay,
    decay: (n) => /\.W_/.test(n) || n === 'embed.free' || n === 'pos_embed.W_pos',
    batch: (step) => {
      const rng = new Rng(r.seed * 7_919 + step + 1);
      const p = r.resampleCodes * (r.resampleRamp ? step / r.steps : 1);
      model.setCodes(rng.next() < p ? rng : null);
      return toTrainBatch(ioiRows(tok, r.batch, r.seed * 100_003 + step, 'train'));
    },
    evaluate: () => {
      model.setCodes(null);
      const s = ioiScores(fwd, evalHeld);
      return { heldOutLogitDiff: s.logitDiff, heldOutAcc: s.accuracy, heldOutLoss: s.loss };
    },
    evalEvery: 250,
    log,
  });
  model.setCodes(null);
  const hs = 2_000_000 + r.seed, ts = 3_000_000 + r.seed;
  return {
    model, result,
    heldOut: { ...ioiScores(fwd, ioiRows(tok, 2000, hs, 'held-out')), seed: hs },
    train: { ...ioiScores(fwd, ioiRows(tok, 2000, ts, 'train')), seed: ts },
  };
}
