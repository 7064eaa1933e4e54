/**
 * The models the project trains and ships (models/, src/train/): each loads by name through
 * loadModel and reaches the held-out scores its config.json reports on fresh seeded draws; the
 * IOI model solves IOI (logit difference > 2) on held-out names and templates and through the
 * IOI task itself. The training forward equals HookedTransformer.forward (TOL.component), and a
 * short seeded training run lowers the loss and repeats exactly.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { finalizeConfig, type ModelConfig } from '../../src/model/config.js';
import { loadModel, shippedModelPath } from '../../src/model/load-model.js';
import { splitWords, tokenizerFor, WordTokenizer } from '../../src/model/tokenizer.js';
import { HookedTransformer } from '../../src/model/transformer.js';
import { ABBA_TEMPLATES, BABA_TEMPLATES, NAMES } from '../../src/tasks/ioi/data.js';
import { ioiTask } from '../../src/tasks/ioi/index.js';
import { validateBatch } from '../../src/tasks/types.js';
import { TrainableModel, trainForward } from '../../src/train/forward.js';
import { initStateDict } from '../../src/train/init.js';
import { HELD_OUT_NAMES, HELD_OUT_TEMPLATES, IoiParametrization, ioiConfig, ioiRows, ioiScores, ioiVocab, IOI_NAME } from '../../src/train/ioi-words.js';
import { PERMUTE_NAME, permuteRows, toyAccuracy, toTrainBatch } from '../../src/train/permute-lists.js';
import { train } from '../../src/train/train.js';
import { expectClose, expectNoLeak, TOL } from '../helpers.js';

beforeAll(async () => { await initBackend('wasm'); });

/** config.json's `training` record (written by src/train/ship.ts). */
function shippedTraining(name: string): Record<string, any> {
  const dir = shippedModelPath(name);
  expect(dir, `models/${name} is shipped`).not.toBeNull();
  return JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')).training;
}

describe('shipped permute-lists-2l', () => {
  it('loads by name and reaches its reported accuracy on fresh held-out lists', async () => {
    const { model } = await loadModel(PERMUTE_NAME, { quiet: true });
    try {
      expect(model.cfg).toMatchObject({ nLayers: 2, nHeads: 1, attnOnly: true, normalizationType: null, dVocab: 53, dVocabOut: 50 });
      const reported = (shippedTraining(PERMUTE_NAME)).heldOutAccuracy as number;
      expect(reported).toBeGreaterThanOrEqual(0.99);
      const rows = permuteRows(2000, 4242, true);
      model.forward([rows.tokens[0]]).dispose(); // warm the causal-mask cache for this length
      const { accuracy } = await expectNoLeak(() => toyAccuracy((t) => model.forward(t), rows), 'toyAccuracy');
      expect(accuracy).toBeGreaterThanOrEqual(Math.min(reported, 0.999) - 0.005);
    } finally { model.dispose(); }
  });
});

describe('shipped ioi-words', () => {
  it('loads by name with its word tokenizer', async () => {
    const { model } = await loadModel(IOI_NAME, { quiet: true });
    try {
      const tok = tokenizerFor(model.cfg);
      expect(tok).toBeInstanceOf(WordTokenizer);
      expect(tok.toSingleToken(' Mary')).toBe(tok.toSingleToken('Mary'));
      expect(tok.toStrTokens('Then, Mary and John went to the store.', { prependBos: false })).toEqual(['Then', ',', 'Mary', 'and', 'John', 'went', 'to', 'the', 'store', '.']);
      expect(tok.decode(tok.toTokens('Then, Mary and John went to the store.', { prependBos: false }))).toBe('Then, Mary and John went to the store.');
      expect(() => tok.encode('Then, Zorblax left')).toThrow(/'Zorblax'.*not in the vocabulary/);
      for (const n of NAMES) expect(tok.idToString(tok.toSingleToken(` ${n}`))).toBe(n);
    } finally { model.dispose(); }
  });

  it('word vocabularies are validated by the config', () => {
    const base = { nLayers: 1, nHeads: 1, dModel: 8, nCtx: 4, dVocab: 3, tokenizerName: 'word' };
    expect(() => finalizeConfig({ ...base, tokenizerVocab: ['<|endoftext|>', 'a'] }, 'x.json')).toThrow(/config: x.json: tokenizer_vocab has 2 words but dVocab is 3/);
    expect(() => finalizeConfig({ ...base, tokenizerVocab: ['a', 'b', 'a'] }, 'x.json')).toThrow(/repeats a word/);
    expect(() => finalizeConfig(base, 'x.json')).toThrow(/needs tokenizer_vocab/);
    expect(tokenizerFor(finalizeConfig({ ...base, tokenizerVocab: ['<|endoftext|>', 'a', '.'], bosTokenId: 0 }, 'x')).toTokens('a.')).toEqual([0, 1, 2]);
  });

  it('holds out names and templates whose words are all trained', () => {
    const words = (ts: string[]) => new Set(ts.flatMap((t) => splitWords(t.replace(/\[(A|B|PLACE|OBJECT)\]/g, ' '))));
    const pick = (held: boolean) => [...ABBA_TEMPLATES, ...BABA_TEMPLATES].filter((_, i) => HELD_OUT_TEMPLATES.includes(i % ABBA_TEMPLATES.length) === held);
    const trained = words(pick(false));
    for (const w of words(pick(true))) expect(trained.has(w), `held-out template word '${w}'`).toBe(true);
    expect(HELD_OUT_NAMES).toHaveLength(19);
    expect(new Set(ioiVocab()).size).toBe(ioiVocab().length);
  });

  it('solves IOI on held-out names and templates (logit diff > 2), as reported', async () => {
    const { model } = await loadModel(IOI_NAME, { quiet: true });
    try {
      const tok = tokenizerFor(model.cfg) as WordTokenizer;
      const reported = (shippedTraining(IOI_NAME)).heldOut as { logitDiff: number; accuracy: number };
      for (const bosRate of [0, 0.5, 1]) {
        const rows = ioiRows(tok, 500, 777, 'held-out', bosRate);
        expect(rows.io.every((id) => HELD_OUT_NAMES.includes(tok.idToString(id)))).toBe(true);
        model.forward([rows.tokens[0]]).dispose(); // warm the causal-mask cache for this length
        const s = await expectNoLeak(() => ioiScores((t) => model.forward(t), rows), 'ioiScores');
        expect(s.logitDiff, `BOS rate ${bosRate}`).toBeGreaterThan(2);
        expect(s.fracCorrect, `BOS rate ${bosRate}`).toBeGreaterThan(0.95);
        if (bosRate === 0.5) { // the reported scores' setting, fresh draws
          expect(s.logitDiff).toBeGreaterThan(0.9 * reported.logitDiff);
          expect(s.accuracy).toBeGreaterThan(reported.accuracy - 0.03);
        }
      }
    } finally { model.dispose(); }
  });

  it('is the IOI task\'s fallback model and solves the task\'s own prompts', async () => {
    expect(ioiTask.fallbackModel).toBe(IOI_NAME);
    const { model } = await loadModel(IOI_NAME, { quiet: true });
    try {
      const ctx = { cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) };
      const b = ioiTask.build(ctx, { n: 300, seed: 5 });
      validateBatch('ioi', b, model.cfg);
      const ld = (tokens: number[][]) => tf.tidy(() => {
        const logits = model.forward(tokens);
        const at = tf.stack(b.positions.map((p, i) => tf.slice(logits, [i, p[0], 0], [1, 1, -1]).reshape([1, -1]))).reshape([b.positions.length, 1, -1]) as tf.Tensor3D;
        return ioiTask.metric(at, b).dataSync()[0];
      });
      expect(ld(b.clean)).toBeGreaterThan(2);
      expect(Math.abs(ld(b.corrupt))).toBeLessThan(1);
    } finally { model.dispose(); }
  });
});

describe('training forward', () => {
  const cases: [string, ModelConfig][] = [
    ['attention-only, no LN', finalizeConfig({ modelName: 'tiny-attn', nLayers: 2, nHeads: 2, dModel: 16, dHead: 8, nCtx: 10, dVocab: 13, dVocabOut: 11, attnOnly: true, normalizationType: null }, 'test')],
    ['LN + MLP (gelu_new)', finalizeConfig({ modelName: 'tiny-mlp', nLayers: 2, nHeads: 4, dModel: 32, dHead: 8, dMlp: 64, nCtx: 10, dVocab: 17, actFn: 'gelu_new', normalizationType: 'LN' }, 'test')],
  ];
  it.each(cases)('equals HookedTransformer.forward (%s)', (_name, cfg) => {
    const sd = initStateDict(cfg, 3, 2);
    // non-zero biases and LN parameters, so every term is exercised
    let k = 0;
    for (const [n, t] of sd) if (/\.b(_\w+)?$|\.w$|b_U$/.test(n)) for (let i = 0; i < t.data.length; i++) t.data[i] += 0.1 * Math.sin(++k);
    const hooked = HookedTransformer.fromStateDict(cfg, sd);
    const trainable = new TrainableModel(cfg, sd);
    try {
      const tokens = Array.from({ length: 3 }, (_, b) => Array.from({ length: cfg.nCtx }, (_, t) => (b * 7 + t * 5) % cfg.dVocab));
      const ref = hooked.forward(tokens);
      const ours = tf.tidy(() => trainable.forward(tf.tensor2d(tokens, undefined, 'int32')));
      expectClose(ours, ref, TOL.component, 'training forward vs HookedTransformer');
      tf.dispose([ref, ours]);
    } finally { hooked.dispose(); trainable.dispose(); }
  });

  it('the IOI parametrization (codes, tied unembedding) exports what it trains', () => {
    const cfg = ioiConfig({ nLayers: 1, nHeads: 2, dModel: 16, dMlp: 32, nCtx: 24 });
    const p = new IoiParametrization(cfg, 1, 8);
    const hooked = HookedTransformer.fromStateDict(cfg, p.stateDict());
    try {
      const tok = new WordTokenizer(cfg.tokenizerVocab!, 0);
      const rows = ioiRows(tok, 4, 9, 'train');
      const ref = hooked.forward(rows.tokens);
      const ours = tf.tidy(() => trainForward(cfg, p.param, tf.tensor2d(rows.tokens, undefined, 'int32')));
      expectClose(ours, ref, TOL.component, 'IOI parametrization vs exported model');
      tf.dispose([ref, ours]);
    } finally { hooked.dispose(); p.dispose(); }
  });
});

describe('trainer', () => {
  it('lowers the loss and repeats exactly with the same seed', async () => {
    const cfg = finalizeConfig({ modelName: 'tiny-permute', nLayers: 2, nHeads: 1, dModel: 32, dHead: 32, nCtx: 12, dVocab: 53, dVocabOut: 50, attnOnly: true, normalizationType: null }, 'test');
    const run = () => {
      const m = new TrainableModel(cfg, initStateDict(cfg, 7));
      try {
        return train(m, { steps: 40, lr: 3e-2, batch: (s) => toTrainBatch(permuteRows(32, 10 + s, false)) }).losses;
      } finally { m.dispose(); }
    };
    const a = run();
    const b = await expectNoLeak(run, 'train');
    expect(b).toEqual(a);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(a.slice(-10))).toBeLessThan(mean(a.slice(0, 10)) - 0.5); // measured: 3.90 -> 2.76
  });
});
