/**
 * Task plugins without a model: every registered task builds a valid, deterministic batch
 * (conformance loop over the registry), each task's data looks like its source (IOI templates
 * and ABC corruption, greater-than years and the "01" corruption, the docstring format, the
 * induction repeat), metrics equal hand computations on hand-made logits (TOL.component), the
 * custom JSON errors name what is wrong, and the reference circuits of IOI, greater-than and
 * docstring have ACDC's counts and composition tables (docs/tasks.md "Reference circuits").
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { finalizeConfig, presetConfig, type ModelConfig } from '../../src/model/config.js';
import { Gpt2Tokenizer, IdTokenizer, tokenizerFor } from '../../src/model/tokenizer.js';
import { buildLayout, layoutEdges, maskFromEdges } from '../../src/graph/layout.js';
import { getTask, listTasks, taskNames, TaskRegistry } from '../../src/tasks/registry.js';
import { validateBatch, type BuildContext, type Task, type TaskBatch } from '../../src/tasks/types.js';
import { ABBA_TEMPLATES, BABA_TEMPLATES, NAMES, OBJECTS, PLACES, fillTemplate, templateText } from '../../src/tasks/ioi/index.js';
import { greaterThanYears, probDiff, YY_INDEX } from '../../src/tasks/greater-than.js';
import { VARIABLE_NAMES } from '../../src/tasks/docstring.js';
import { customTask, parseCustomTask } from '../../src/tasks/custom.js';
import { loadCustomTask } from '../../src/tasks/custom-file.js';
import { composition, convertToyEdge, docstringReference, greaterThanReference, ioiReference, IOI_HEAD_GROUPS } from '../../src/tasks/references.js';
import { corruptSeed } from '../../src/tasks/toy.js';
import { resolveSharedModel } from '../../src/tasks/shared-models.js';
import { TOL, expectClose, expectNoLeak } from '../helpers.js';

const GPT2 = presetConfig('gpt2-small');
const gpt2Tok = new Gpt2Tokenizer();

/** Configs shaped like the four shared toy models (README), so the unit tier needs no files. */
const TOY_CFG: Record<string, ModelConfig> = {
  'min-int': toyCfg('min_int', 1, 3, 201, 200),
  'majority-element': toyCfg('majority_element', 1, 12, 52, 52),
  sort: toyCfg('sort', 1, 22, 52, 50),
  'permute-lists': toyCfg('permute_lists', 2, 12, 53, 50),
};

function toyCfg(name: string, nLayers: number, nCtx: number, dVocab: number, dVocabOut: number): ModelConfig {
  return finalizeConfig({ modelName: name, nLayers, nHeads: 1, dModel: 32, dHead: 32, nCtx, dVocab, dVocabOut, attnOnly: true, normalizationType: null, positionalEmbeddingType: 'standard', tokenizerName: null, defaultPrependBos: false }, name);
}

function ctxFor(task: Task): BuildContext {
  const cfg = TOY_CFG[task.name] ?? GPT2;
  return { cfg, tokenizer: cfg === GPT2 ? gpt2Tok : tokenizerFor(cfg) };
}

/** Random logits [B, K, V] and their values as nested arrays. */
function randomLogits(B: number, K: number, V: number, seed: number): { t: tf.Tensor3D; a: number[][][] } {
  const t = tf.randomNormal([B, K, V], 0, 2, 'float32', seed) as tf.Tensor3D;
  return { t, a: t.arraySync() };
}

beforeAll(async () => { await initBackend('wasm'); });

describe('registry', () => {
  it('holds the built-in tasks and lists them in errors', () => {
    expect(taskNames()).toEqual(['ioi', 'ioi-acdc', 'greater-than', 'docstring', 'induction', 'min-int', 'majority-element', 'sort', 'permute-lists']);
    expect(() => getTask('nope')).toThrow(/unknown task 'nope' \(known: ioi, ioi-acdc, greater-than/);
  });
  it('throws on a duplicate name', () => {
    const r = new TaskRegistry();
    r.register(getTask('ioi'));
    expect(() => r.register(getTask('ioi'))).toThrow(/'ioi' is already registered/);
  });
  it('names default and fallback models', () => {
    expect(getTask('ioi').defaultModel).toBe('gpt2');
    expect(getTask('docstring').defaultModel).toBe('attn-only-4l');
    expect(getTask('permute-lists').defaultModel).toBe('permute_lists');
    expect(getTask('permute-lists').fallbackModel).toBe('permute-lists-2l');
    expect(getTask('sort').fallbackModel).toBeNull();
  });
});

describe('conformance: every registered task', () => {
  for (const task of listTasks()) {
    describe(task.name, () => {
      const ctx = ctxFor(task);
      let b: TaskBatch;
      beforeAll(() => { b = task.build(ctx, { n: 12, seed: 3 }); });
      it('builds a valid batch (validateBatch) with equal lengths', () => {
        validateBatch(task.name, b, ctx.cfg);
        expect(b.clean).toHaveLength(12);
        const T = b.clean[0].length;
        for (let i = 0; i < 12; i++) { expect(b.clean[i]).toHaveLength(T); expect(b.corrupt[i]).toHaveLength(T); }
      });
      it('is deterministic in the seed', () => {
        expect(task.build(ctx, { n: 12, seed: 3 })).toEqual(b);
        expect(task.build(ctx, { n: 12, seed: 4 }).clean).not.toEqual(b.clean);
      });
      it('has single-token answers', () => {
        for (const a of b.answers.flat()) {
          expect(Number.isInteger(a)).toBe(true);
          if (ctx.tokenizer.name === 'gpt2') expect(gpt2Tok.encode(gpt2Tok.idToString(a))).toEqual([a]);
        }
      });
      it('corrupts something', () => {
        expect(b.corrupt).not.toEqual(b.clean);
      });
      it('evaluates its metrics to finite numbers without leaking tensors', async () => {
        const V = ctx.cfg.dVocabOut, K = b.positions[0].length;
        const { t } = randomLogits(12, K, V, 1);
        await expectNoLeak(() => {
          const m = task.metric(t, b);
          expect(Number.isFinite(m.dataSync()[0])).toBe(true);
          m.dispose();
          for (const x of task.metrics ?? []) {
            const v = x.compute(t, b, t);
            expect(Number.isFinite(v.dataSync()[0]), x.name).toBe(true);
            v.dispose();
          }
        }, `${task.name} metrics`);
        t.dispose();
      });
    });
  }
});

describe('ioi', () => {
  const ctx = { cfg: GPT2, tokenizer: gpt2Tok };
  it('has 15 ABBA and 15 BABA templates; ABBA swaps the first-clause names', () => {
    expect(ABBA_TEMPLATES).toHaveLength(15);
    expect(BABA_TEMPLATES).toHaveLength(15);
    expect(NAMES).toHaveLength(99);
    expect(PLACES).toHaveLength(8);
    expect(OBJECTS).toHaveLength(8);
    expect(templateText('A0')).toBe('Then, [A] and [B] went to the [PLACE]. [B] gave a [OBJECT] to [A]');
    expect(templateText('B0')).toBe('Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]');
  });
  it('builds prompts that look like the templates, with IO as answer and S as wrong token', () => {
    const b = getTask('ioi').build(ctx, { n: 40, seed: 0 });
    const m = b.meta as { text: string[]; corruptText: string[]; template: string[]; io: string[]; s: string[]; place: string[]; object: string[]; abc: string[][]; promptLength: number[] };
    expect(new Set(m.template).size).toBeGreaterThan(10);
    expect(new Set(m.template.map((t) => t[0]))).toEqual(new Set(['A', 'B']));
    for (let i = 0; i < 40; i++) {
      const t = templateText(m.template[i]);
      expect(m.text[i]).toBe(fillTemplate(t, { io: m.io[i], s1: m.s[i], s2: m.s[i], place: m.place[i], object: m.object[i] }));
      expect(PLACES).toContain(m.place[i]);
      expect(OBJECTS).toContain(m.object[i]);
      expect(gpt2Tok.decode(b.clean[i].slice(0, m.promptLength[i]))).toBe(m.text[i]);
      expect(b.positions[i]).toEqual([m.promptLength[i] - 1]);
      expect(b.clean[i].slice(m.promptLength[i]).every((x) => x === 50256)).toBe(true);
      expect(b.answers[i]).toEqual([gpt2Tok.toSingleToken(' ' + m.io[i])]);
      expect(b.wrong[i]).toEqual([[gpt2Tok.toSingleToken(' ' + m.s[i])]]);
      expect(m.io[i]).not.toBe(m.s[i]);
    }
    // spot check: every prompt reads like one of the templates
    for (const x of m.text) expect(x).toMatch(/^(Then,|After|When|While|Afterwards,|The|Friends) .* to$/);
    const i0 = m.template.indexOf('A0');
    if (i0 >= 0) expect(m.text[i0]).toBe(`Then, ${m.io[i0]} and ${m.s[i0]} went to the ${m.place[i0]}. ${m.s[i0]} gave a ${m.object[i0]} to`);
  });
  it('ABC corruption replaces IO, S1 and S2 by three new distinct names, keeping token positions', () => {
    const b = getTask('ioi').build(ctx, { n: 30, seed: 1 });
    const m = b.meta as { text: string[]; corruptText: string[]; io: string[]; s: string[]; abc: string[][]; template: string[] };
    for (let i = 0; i < 30; i++) {
      const [x, z, y] = m.abc[i];
      expect(new Set([x, y, z, m.io[i], m.s[i]]).size).toBe(5);
      const words = m.corruptText[i].split(/[\s,.]+/);
      expect(words).not.toContain(m.io[i]);
      expect(words).not.toContain(m.s[i]);
      // the first-clause names are X and Z (in template order), the second clause's subject Y
      expect(m.corruptText[i]).toBe(m.text[i].replace(new RegExp(`\\b${m.io[i]}\\b`), x).replace(new RegExp(`\\b${m.s[i]}\\b`), z).replace(new RegExp(`\\b${m.s[i]}\\b`), y));
      const diff = b.clean[i].map((t, j) => (t !== b.corrupt[i][j] ? j : -1)).filter((j) => j >= 0);
      expect(diff).toHaveLength(3);
    }
  });
  it('ioi-acdc: template A0, 16-token prompts (15 seen), no BOS', () => {
    const b = getTask('ioi-acdc').build(ctx, { n: 50, seed: 0 });
    const m = b.meta as { text: string[]; io: string[]; s: string[] };
    for (let i = 0; i < 50; i++) {
      expect(b.clean[i]).toHaveLength(15);
      expect(b.clean[i][0]).not.toBe(50256);
      const g = /^Then, (\w+) and (\w+) went to the (\w+)\. (\w+) gave a (\w+) to$/.exec(m.text[i]);
      expect(g, m.text[i]).not.toBeNull();
      expect(g![1]).toBe(m.io[i]);
      expect(g![2]).toBe(m.s[i]);
      expect(g![4]).toBe(m.s[i]);
      expect(b.positions[i]).toEqual([14]);
    }
  });
  it("'modal' lengths keep only the templates of the most common length (12 of 30, 15 tokens)", async () => {
    const { makeIoiTask, ALL_TEMPLATE_IDS } = await import('../../src/tasks/ioi/index.js');
    const t = makeIoiTask({ name: 'ioi-modal', description: '', templates: ALL_TEMPLATE_IDS, prependBos: false, lengths: 'modal' });
    const b = t.build(ctx, { n: 200, seed: 0 });
    expect(new Set(b.clean.map((r) => r.length))).toEqual(new Set([15]));
    expect(new Set(b.positions.map((p) => p[0]))).toEqual(new Set([14]));
    expect(new Set((b.meta as { template: string[] }).template).size).toBe(12);
  });
  it('names a word that is not a single token', async () => {
    const { makeIoiTask } = await import('../../src/tasks/ioi/index.js');
    const ids = new IdTokenizer(100);
    const t = makeIoiTask({ name: 'ioi-x', description: '', templates: ['A0'], prependBos: false, lengths: 'pad' });
    expect(() => t.build({ cfg: TOY_CFG['min-int'], tokenizer: ids }, { n: 2, seed: 0 })).toThrow(/ioi-x: name ' \w+' is not a single token of the ids tokenizer/);
  });
  it('logit difference equals logit(IO) - logit(S) by hand', () => {
    const b = getTask('ioi').build(ctx, { n: 5, seed: 2 });
    const { t, a } = randomLogits(5, 1, GPT2.dVocabOut, 7);
    let want = 0;
    for (let i = 0; i < 5; i++) want += a[i][0][b.answers[i][0]] - a[i][0][b.wrong[i][0][0]];
    expectClose(getTask('ioi').metric(t, b), [want / 5], TOL.component, 'ioi logit diff');
    t.dispose();
  });
});

describe('greater-than', () => {
  const ctx = { cfg: GPT2, tokenizer: gpt2Tok };
  it('years are those whose last two digits are one token, without each century\'s first and last', () => {
    const ys = greaterThanYears(gpt2Tok);
    expect(ys.length).toBeGreaterThan(300);
    for (const y of ys) {
      expect(y).toBeGreaterThanOrEqual(1103);
      expect(y).toBeLessThanOrEqual(1797);
      const ids = gpt2Tok.encode(` ${y}`);
      expect(ids).toEqual([gpt2Tok.toSingleToken(` ${String(y).slice(0, 2)}`), gpt2Tok.toSingleToken(String(y).slice(2))]);
    }
    // per century, the first and last valid years are dropped
    const c11 = ys.filter((y) => y < 1200);
    const all11: number[] = [];
    for (let y = 1102; y < 1199; y++) { const ids = gpt2Tok.encode(` ${y}`); if (ids.length === 2 && ids[0] === gpt2Tok.toSingleToken(' 11')) all11.push(y); }
    expect(c11).toEqual(all11.slice(1, -1));
  });
  it('prompts are 10 tokens with YY at index 7; the corruption puts "01" (486) there', () => {
    const b = getTask('greater-than').build(ctx, { n: 30, seed: 0 });
    const m = b.meta as { yy: number[]; text: string[] };
    for (let i = 0; i < 30; i++) {
      expect(m.text[i]).toMatch(/^The \w+ lasted from the year 1[1-7]\d\d to 1[1-7]$/);
      expect(b.clean[i]).toHaveLength(10);
      expect(gpt2Tok.idToString(b.clean[i][YY_INDEX])).toBe(String(m.yy[i]).padStart(2, '0'));
      expect(b.corrupt[i][YY_INDEX]).toBe(486);
      expect(b.corrupt[i].filter((t, j) => t !== b.clean[i][j])).toEqual([486]);
      expect(b.positions[i]).toEqual([9]);
    }
  });
  it('probability difference equals a hand computation', () => {
    const b = getTask('greater-than').build(ctx, { n: 4, seed: 1 });
    const { t, a } = randomLogits(4, 1, GPT2.dVocabOut, 3);
    const yy = (b.meta as { yy: number[] }).yy;
    let want = 0;
    for (let i = 0; i < 4; i++) {
      const row = a[i][0];
      const mx = Math.max(...row);
      let z = 0;
      for (const x of row) z += Math.exp(x - mx);
      for (let k = 0; k < 100; k++) {
        const p = Math.exp(row[gpt2Tok.toSingleToken(String(k).padStart(2, '0'))] - mx) / z;
        want += k > yy[i] ? p : -p;
      }
    }
    expectClose(getTask('greater-than').metric(t, b), [want / 4], TOL.component, 'prob diff');
    t.dispose();
  });
  it('all mass on the smallest greater ending gives +1, on YY itself -1 (mean 0)', () => {
    const ids = Array.from({ length: 100 }, (_, k) => gpt2Tok.toSingleToken(String(k).padStart(2, '0')));
    const l = tf.tidy(() => tf.mul(tf.oneHot([ids[41], ids[40]], GPT2.dVocabOut), 100).reshape([2, 1, GPT2.dVocabOut])) as tf.Tensor3D;
    expectClose(probDiff(l, [40, 40], ids), [0], 1e-5, 'one right, one wrong');
    l.dispose();
  });
});

describe('docstring', () => {
  const ctx = { cfg: GPT2, tokenizer: gpt2Tok };
  it('follows the generator format: def line, description, two :param lines, dangling :param', () => {
    const b = getTask('docstring').build(ctx, { n: 20, seed: 0 });
    const m = b.meta as { text: string[]; corruptText: string[] };
    const re = /^\ndef (\w+)\(self, (\w+), (\w+), (\w+), (\w+), (\w+), (\w+)\):\n {4}"""(\w+) (\w+) (\w+)\n\n {4}:param (\w+): (\w+) (\w+)\n {4}:param (\w+): (\w+) (\w+)\n {4}:param$/;
    for (let i = 0; i < 20; i++) {
      const g = re.exec(m.text[i]);
      expect(g, m.text[i]).not.toBeNull();
      const defArgs = g!.slice(2, 8);
      expect(new Set([g![1], ...defArgs]).size).toBe(7);
      for (const v of [g![1], ...defArgs]) expect(VARIABLE_NAMES).toContain(v);
      // documented args are the 3rd and 4th def args; the answer is the 5th
      expect([g![11], g![14]]).toEqual([defArgs[2], defArgs[3]]);
      expect(gpt2Tok.idToString(b.answers[i][0])).toBe(' ' + defArgs[4]);
      expect(b.wrong[i][0]).toHaveLength(13);
      expect(b.wrong[i][0]).not.toContain(b.answers[i][0]);
      for (const a of [defArgs[0], defArgs[1], defArgs[2], defArgs[3], defArgs[5]]) expect(b.wrong[i][0]).toContain(gpt2Tok.toSingleToken(' ' + a));
      // random_random: the prefix/suffix args and the descriptions stay; the rest is new
      const k = re.exec(m.corruptText[i])!;
      expect(k).not.toBeNull();
      expect([k[2], k[3], k[7]]).toEqual([defArgs[0], defArgs[1], defArgs[5]]);
      expect([k[8], k[9], k[10], k[12], k[13], k[15], k[16]]).toEqual([g![8], g![9], g![10], g![12], g![13], g![15], g![16]]);
      for (const x of [k[4], k[5], k[6], k[11], k[14]]) expect(defArgs.slice(2, 5)).not.toContain(x);
      expect(b.clean[i][0]).toBe(50256);
    }
  });
  it('fails clearly with a tokenizer other than GPT-2', () => {
    const cfg = presetConfig('attn-only-4l');
    expect(() => getTask('docstring').build({ cfg, tokenizer: tokenizerFor(cfg) }, { n: 2, seed: 0 })).toThrow(/docstring: the model 'attn-only-4l' uses the 'ids' tokenizer.*NeoX.*GPT-2-tokenised model/);
  });
});

describe('induction', () => {
  it('repeats a random sequence once after a BOS (GPT-2) and scores the second copy', () => {
    const b = getTask('induction').build({ cfg: GPT2, tokenizer: gpt2Tok }, { n: 6, seed: 0 });
    const L = (b.meta as { seqLen: number }).seqLen;
    expect(L).toBe(20);
    for (let i = 0; i < 6; i++) {
      const r = b.clean[i];
      expect(r).toHaveLength(2 * L + 1);
      expect(r[0]).toBe(50256);
      expect(r.slice(1, L + 1)).toEqual(r.slice(L + 1));
      expect(r.slice(1).every((t) => t < 50256)).toBe(true);
      expect(b.positions[i]).toEqual(Array.from({ length: L - 1 }, (_, j) => L + 1 + j));
      expect(b.answers[i]).toEqual(b.positions[i].map((p) => r[p + 1]));
    }
    // corrupted rows are other rows (a derangement)
    const from = (b.meta as { corruptFrom: number[] }).corruptFrom;
    from.forEach((j, i) => { expect(j).not.toBe(i); expect(b.corrupt[i]).toEqual(b.clean[j]); });
  });
  it('draws ids from a toy model\'s vocabulary, without a BOS when it has none, within nCtx', () => {
    const cfg = TOY_CFG['permute-lists'];
    const b = getTask('induction').build({ cfg, tokenizer: tokenizerFor(cfg) }, { n: 4, seed: 0 });
    const L = (b.meta as { seqLen: number }).seqLen;
    expect(L).toBe(6);
    for (const r of b.clean) { expect(r).toHaveLength(12); expect(r.slice(0, 6)).toEqual(r.slice(6)); expect(Math.max(...r)).toBeLessThan(50); }
    expect(() => getTask('induction').build({ cfg: TOY_CFG['min-int'], tokenizer: tokenizerFor(TOY_CFG['min-int']) }, { n: 4, seed: 0 })).toThrow(/nCtx 3\) is too short/);
  });
});

describe('toy tasks', () => {
  it('corrupt with an independent draw of the same generator', async () => {
    const { TOY_GENERATORS } = await import('../../src/tasks/toy/generators.js');
    const b = getTask('permute-lists').build(ctxFor(getTask('permute-lists')), { n: 8, seed: 5 });
    expect(b.clean).toEqual(TOY_GENERATORS['permute-lists'](8, 5).tokens);
    expect(b.corrupt).toEqual(TOY_GENERATORS['permute-lists'](8, corruptSeed(5)).tokens);
    expect(b.positions[0]).toEqual([8, 9, 10]);
  });
});

describe('custom tasks', () => {
  const ctx = { cfg: GPT2, tokenizer: gpt2Tok };
  const good = {
    prompts: [
      { clean: 'When Mary and John went to the store, John gave a drink to', corrupt: 'When Mary and John went to the store, Paul gave a drink to', answer: ' Mary', wrong: ' John' },
      { clean: 'When Anna and Tom went to the park, Tom gave a ball to', corrupt: 'When Anna and Tom went to the park, Mark gave a ball to', answer: ' Anna', wrong: [' Tom', ' Mark'] },
    ],
  };
  const src = 'x.json';
  it('builds text prompts (with the model\'s BOS) and computes logit diff against the max wrong', () => {
    const t = customTask(parseCustomTask(good, src), src);
    expect(t.name).toBe('custom:x');
    expect(t.metricName).toBe('logit-diff');
    const b = t.build(ctx, { n: 100, seed: 0 });
    validateBatch(t.name, b, GPT2);
    expect(b.clean[0][0]).toBe(50256);
    expect(b.positions).toEqual([[b.clean[0].length - 1], [b.clean[0].length - 1]]);
    expect(b.wrong[1][0]).toEqual([gpt2Tok.toSingleToken(' Tom'), gpt2Tok.toSingleToken(' Mark')]);
    const { t: l, a } = randomLogits(2, 1, GPT2.dVocabOut, 9);
    const want = (a[0][0][b.answers[0][0]] - a[0][0][b.wrong[0][0][0]] + a[1][0][b.answers[1][0]] - Math.max(...b.wrong[1][0].map((w) => a[1][0][w]))) / 2;
    expectClose(t.metric(l, b), [want], TOL.component, 'custom logit diff');
    l.dispose();
  });
  it('takes token-id prompts and ids as answers; defaults to logprob without wrong tokens', () => {
    const t = customTask(parseCustomTask({ prompts: [{ clean: [52, 1, 2, 3], corrupt: [52, 4, 5, 6], answer: 3 }], position: 2 }, src), src);
    expect(t.metricName).toBe('logprob');
    const cfg = TOY_CFG['permute-lists'];
    const b = t.build({ cfg, tokenizer: tokenizerFor(cfg) }, { n: 5, seed: 0 });
    expect(b).toMatchObject({ clean: [[52, 1, 2, 3]], corrupt: [[52, 4, 5, 6]], positions: [[2]], answers: [[3]] });
  });
  it('loads a file and reports unreadable or invalid JSON with the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-custom-'));
    try {
      writeFileSync(join(dir, 'ok.json'), JSON.stringify(good));
      expect(loadCustomTask(join(dir, 'ok.json')).name).toBe('custom:ok');
      writeFileSync(join(dir, 'bad.json'), '{ "prompts": [');
      expect(() => loadCustomTask(join(dir, 'bad.json'))).toThrow(/custom task .*bad\.json: not valid JSON/);
      expect(() => loadCustomTask(join(dir, 'missing.json'))).toThrow(/custom task .*missing\.json: cannot read the file \(ENOENT\)/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
  const errs: [string, unknown, RegExp][] = [
    ['not an object', [1], /must hold a JSON object/],
    ['no prompts', {}, /missing field "prompts"/],
    ['empty prompts', { prompts: [] }, /"prompts" must be a non-empty array/],
    ['missing corrupt', { prompts: [{ clean: 'a', answer: ' b' }] }, /prompts\[0\] has no "corrupt"/],
    ['missing answer', { prompts: [{ clean: 'a', corrupt: 'b', wrong: ' c' }] }, /prompts\[0\] has no "answer"/],
    ['bad metric', { prompts: good.prompts, metric: 'l2' }, /"metric" must be one of "logit-diff", "logprob", "accuracy", got "l2"/],
    ['logit-diff without wrong', { prompts: [good.prompts[0], { ...good.prompts[1], wrong: undefined }], metric: 'logit-diff' }, /prompts\[1\] has no "wrong" token/],
    ['bad token array', { prompts: [{ clean: [1, -2], corrupt: [1, 2], answer: 1 }] }, /prompts\[0\]\.clean\[1\] is -2/],
    ['unknown field', { prompts: good.prompts, thresold: 1 }, /unknown field 'thresold'/],
  ];
  for (const [what, json, re] of errs) it(`rejects ${what}`, () => { expect(() => parseCustomTask(json, src)).toThrow(re); expect(() => parseCustomTask(json, src)).toThrow(/^custom task x\.json: /); });
  it('names the prompt index and both lengths when clean and corrupt differ', () => {
    const t = customTask(parseCustomTask({ prompts: [good.prompts[0], { clean: 'When Anna and Tom went to the park, Tom gave a ball to', corrupt: 'When Anna and Tom went to the park, Christopher Robin gave a ball to', answer: ' Anna', wrong: ' Tom' }] }, src), src);
    expect(() => t.build(ctx, { n: 2, seed: 0 })).toThrow(/custom task x\.json: prompts\[1\]: the clean prompt is 15 tokens but the corrupted prompt is 16 tokens/);
  });
  it('names the prompt index and both lengths when prompts differ in length', () => {
    const t = customTask(parseCustomTask({ prompts: [good.prompts[0], { clean: 'Hi', corrupt: 'Yo', answer: ' there' }], metric: 'logprob' }, src), src);
    expect(() => t.build(ctx, { n: 2, seed: 0 })).toThrow(/prompts\[1\] is 2 tokens but prompts\[0\] is 15 tokens/);
  });
  it('names a multi-token answer', () => {
    const t = customTask(parseCustomTask({ prompts: [{ ...good.prompts[0], answer: ' Maryanne Smith' }] }, src), src);
    expect(() => t.build(ctx, { n: 1, seed: 0 })).toThrow(/prompts\[0\]\.answer " Maryanne Smith" is not a single token of the gpt2 tokenizer/);
  });
  it('names a metric position outside the prompt', () => {
    const t = customTask(parseCustomTask({ prompts: [good.prompts[0]], position: 40 }, src), src);
    expect(() => t.build(ctx, { n: 1, seed: 0 })).toThrow(/prompts\[0\]: metric position 40 is outside its 15-token prompt/);
  });
});

describe('reference circuits (ACDC construction, docs/tasks.md)', () => {
  it('IOI: 26 heads, 963 edges of ours, 1,041 in ACDC\'s count, with ACDC\'s composition', () => {
    expect(Object.values(IOI_HEAD_GROUPS).flat()).toHaveLength(26);
    const r = ioiReference();
    expect(r.edges.size).toBe(963);
    expect(r.acdcCount).toBe(1041);
    expect(composition(r.edges)).toEqual({
      'mlp->head': 567, 'head->head': 124, 'head->mlp': 123, 'mlp->mlp': 66, 'embed->head': 45,
      direct: 78, 'head->logits': 13, 'mlp->logits': 12, 'embed->mlp': 12, 'embed->logits': 1,
    });
    // negatives in ACDC's count: 32,923 - 1,041 = 31,882
    const all = layoutEdges(buildLayout(GPT2));
    expect(all.length + 3 * 144).toBe(32923);
    // a few named edges
    expect(r.edges.has('a9.h9->logits')).toBe(true);
    expect(r.edges.has('a7.h3->a9.h9<q>')).toBe(true);
    expect(r.edges.has('a7.h3->a9.h9<k>')).toBe(false);
    expect(r.edges.has('a2.h2->a5.h5<k>')).toBe(true);
    expect(r.edges.has('input->a9.h9<q>')).toBe(false);
    expect(r.edges.has('m3->a9.h9<q>')).toBe(true);
    expect(r.edges.has('a1.h1->m5')).toBe(false);
    expect(() => maskFromEdges(buildLayout(GPT2), r.edges)).not.toThrow();
  });
  it('greater-than: 235 edges of ours, 262 in ACDC\'s count, with ACDC\'s composition', () => {
    const r = greaterThanReference();
    expect(r.edges.size).toBe(235);
    expect(r.acdcCount).toBe(262);
    expect(composition(r.edges)).toEqual({
      'mlp->head': 89, 'head->head': 54, 'mlp->mlp': 42, 'head->mlp': 27, direct: 27,
      'embed->head': 9, 'head->logits': 6, 'mlp->logits': 4, 'embed->mlp': 4,
    });
    expect(r.edges.has('a8.h11->m8')).toBe(true); // a head into its own layer's MLP
    expect(r.edges.has('m4->a5.h5<q>')).toBe(true);
    expect(r.edges.has('m4->a5.h5<k>')).toBe(false);
  });
  it('docstring: 24 edges of ours, 37 in ACDC\'s count, on attn-only-4l', () => {
    const r = docstringReference();
    expect(r.cfg.modelName).toBe('attn-only-4l');
    expect(r.edges.size).toBe(24);
    expect(r.acdcCount).toBe(37);
    expect(composition(r.edges)).toEqual({ 'embed->head': 8, 'head->head': 14, 'head->logits': 2, direct: 13 });
    expect([...r.edges].filter((e) => e.endsWith('a3.h0<k>')).sort()).toEqual(['a1.h2->a3.h0<k>', 'a2.h0->a3.h0<k>']);
  });
  it('converts the toy files\' edge names', () => {
    expect(convertToyEdge('a0.h0->a1.h0.q')).toBe('a0.h0->a1.h0<q>');
    expect(convertToyEdge('tok->a0.h0.v')).toBe('tok->a0.h0<v>');
    expect(convertToyEdge('a1.h0->logits')).toBe('a1.h0->logits');
  });
});

describe('resolveSharedModel', () => {
  it('looks in $CIRCUITSCOPE_SHARED (the models folder or its parent), and gives null when absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-shared-'));
    try {
      mkdirSync(join(dir, 'models', 'tiny'), { recursive: true });
      writeFileSync(join(dir, 'models', 'tiny', 'config.json'), '{}');
      expect(resolveSharedModel('tiny', { CIRCUITSCOPE_SHARED: dir })).toBe(join(dir, 'models', 'tiny'));
      expect(resolveSharedModel('tiny', { CIRCUITSCOPE_SHARED: join(dir, 'models') })).toBe(join(dir, 'models', 'tiny'));
      expect(resolveSharedModel('absent-model', { CIRCUITSCOPE_SHARED: dir })).toBeNull();
      expect(resolveSharedModel('../etc', { CIRCUITSCOPE_SHARED: dir })).toBeNull();
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
