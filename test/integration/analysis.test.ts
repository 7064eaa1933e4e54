/**
 * The hand-checking analyses (src/analysis) against independent computations:
 * - attention patterns = Hugging Face's on the hf-gpt2-tiny fixture (TOL.model);
 * - head detectors: the reference definition on a hand-written pattern; the batched device
 *   reduction = the definition applied to cached patterns (TOL.component); on a model with a
 *   hand-set induction mechanism (src/analysis/planted.ts) the detectors find the planted
 *   heads, the model predicts the second copy, and the scores equal those of patterns from an
 *   independent float64 forward written here (TOL.component);
 * - DLA: the sum rule (attributions + LN-bias/unembedding-bias constant = logit difference) on
 *   the fixture against Hugging Face's own logit difference, and each component against a
 *   float64 recomputation from the cache in TransformerLens' recipe (centre, divide by
 *   ln_final.hook_scale, times ln weight, dot the logit-difference direction) (TOL.model);
 *   unchanged by weight processing (foldLayerNorm, centerWritingWeights, centerUnembed);
 * - ablate one head: batched ablations (several per forward, several chunks) = one hand-written
 *   mean-ablation hook per head; sum rule in every ablated run; on a one-layer model without
 *   LayerNorm (min_int) naive = actual; on an attention-only model with LayerNorm, for a
 *   last-layer head, actual = (naive - constant) * s / s' + constant exactly, where s, s' are
 *   the clean and ablated final LN scales: the frozen scale is the whole approximation;
 * - no tensor leaks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { finalizeConfig } from '../../src/model/config.js';
import { hook } from '../../src/model/hook-names.js';
import { loadModel } from '../../src/model/load-model.js';
import { Gpt2Tokenizer, tokenizerFor } from '../../src/model/tokenizer.js';
import { HookedTransformer, type HookSpec } from '../../src/model/transformer.js';
import { randomStateDict, type StateDict } from '../../src/model/weights.js';
import { attentionPatterns } from '../../src/analysis/attention.js';
import { DETECTORS, detectHeads, detectorScore, repeatedRandomTokens, topHeads } from '../../src/analysis/detectors.js';
import { ablateHeads, directLogitAttribution, type DlaBatch } from '../../src/analysis/dla.js';
import { allHeads, circuitHeads, circuitRole, parseHeadList } from '../../src/analysis/heads.js';
import { plantedInductionModel } from '../../src/analysis/planted.js';
import { ioiTask } from '../../src/tasks/ioi/index.js';
import { getTask } from '../../src/tasks/registry.js';
import { SHARED, TOL, expectClose, expectNoLeak } from '../helpers.js';
import { FIXTURE_MODEL, fixtureTokens, readReference, type RefTensor } from '../fixture.js';

let gpt: HookedTransformer;
let ref: Map<string, RefTensor>;

beforeAll(async () => {
  await initBackend('wasm');
  gpt = (await loadModel(FIXTURE_MODEL)).model;
  ref = readReference();
});

describe('head names', () => {
  const cfg = { nLayers: 3, nHeads: 4 };
  it('parses 5.5, a5.h5, L5H5 and whole layers; rejects bad or missing heads', () => {
    expect(parseHeadList('1.2, a0.h3,L2H0,1.2', cfg).map((h) => `${h.layer}.${h.head}`)).toEqual(['1.2', '0.3', '2.0']);
    expect(parseHeadList('2.*', cfg)).toHaveLength(4);
    expect(() => parseHeadList('3.0', cfg)).toThrow(/--heads: '3.0' names layer 3 but the model has layers 0..2/);
    expect(() => parseHeadList('1.4', cfg)).toThrow(/head 4 .* heads 0..3/);
    expect(() => parseHeadList('x1', cfg, '--ablate')).toThrow(/^--ablate: 'x1' is not a head/);
  });

  it('reads a circuit\'s heads and their edges', () => {
    const edges = [
      { from: 'input', to: 'a0.h1<q>', score: 1, inCircuit: true },
      { from: 'a0.h1', to: 'a2.h3<v>', score: 1, inCircuit: true },
      { from: 'a2.h3', to: 'logits', score: 1, inCircuit: true },
      { from: 'a1.h0', to: 'logits', score: 1, inCircuit: false },
    ];
    expect(circuitHeads(edges, cfg, 'c.json').map((h) => `a${h.layer}.h${h.head}`)).toEqual(['a0.h1', 'a2.h3']);
    expect(circuitRole(edges, { layer: 2, head: 3 })).toBe('in the circuit: v <- a0.h1; out -> logits');
    expect(() => circuitHeads([{ from: 'a5.h0', to: 'logits', score: 0, inCircuit: true }], cfg, 'c.json')).toThrow(/circuit c.json: 'a5.h0' names layer 5/);
  });
});

describe('attention patterns', () => {
  it('equal Hugging Face\'s on the fixture, every head', async () => {
    const tokens = fixtureTokens(ref)[0];
    const heads = allHeads(gpt.cfg);
    await attentionPatterns(gpt, tokens, heads); // warm-up (causal mask cache)
    const r = await expectNoLeak(() => attentionPatterns(gpt, tokens, heads), 'attentionPatterns');
    const T = tokens.length;
    for (let l = 0; l < gpt.cfg.nLayers; l++) {
      const hf = ref.get(`blocks.${l}.attn.hook_pattern`)!; // [3, H, T, T]
      const [, H, Tq] = hf.shape;
      for (let h = 0; h < H; h++) {
        const want = Array.from(hf.data.subarray(h * Tq * Tq, (h + 1) * Tq * Tq)).filter((_, i) => Math.floor(i / Tq) < T && i % Tq < T);
        expectClose(r.heads.find((x) => x.layer === l && x.head === h)!.pattern.flat(), want, TOL.model, `pattern a${l}.h${h}`);
      }
    }
    expect(r.strTokens.slice(0, 3)).toEqual(['<|endoftext|>', 'When', ' Mary']);
  });
});

/** Independent float64 forward of an attention-only model without LayerNorm: patterns [layer][head][T*T]. */
function naivePatterns(sd: StateDict, cfg: HookedTransformer['cfg'], tokens: number[]): Float64Array[][] {
  const D = cfg.dModel, Dh = cfg.dHead, H = cfg.nHeads, T = tokens.length;
  const W = (n: string) => sd.get(n)!.data;
  const resid = tokens.map((t, p) => Array.from({ length: D }, (_, d) => W('embed.W_E')[t * D + d] + W('pos_embed.W_pos')[p * D + d]));
  const out: Float64Array[][] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const b = `blocks.${l}.attn.`;
    const add = resid.map(() => new Float64Array(D).map((_, d) => W(`${b}b_O`)[d]));
    out.push([]);
    for (let h = 0; h < H; h++) {
      const proj = (wName: string, bName: string) => {
        const w = W(wName), bias = W(bName);
        return resid.map((x) => Array.from({ length: Dh }, (_, e) => {
          let s = bias[h * Dh + e];
          for (let d = 0; d < D; d++) s += x[d] * w[(h * D + d) * Dh + e];
          return s;
        }));
      };
      const WO = W(`${b}W_O`);
      const q = proj(`${b}W_Q`, `${b}b_Q`), k = proj(`${b}W_K`, `${b}b_K`), v = proj(`${b}W_V`, `${b}b_V`);
      const pat = new Float64Array(T * T);
      for (let i = 0; i < T; i++) {
        const sc = Array.from({ length: i + 1 }, (_, j) => q[i].reduce((a, x, e) => a + x * k[j][e], 0) / cfg.attnScale);
        const m = Math.max(...sc);
        const ex = sc.map((s) => Math.exp(s - m));
        const z = ex.reduce((a, x) => a + x, 0);
        ex.forEach((x, j) => { pat[i * T + j] = x / z; });
        for (let e = 0; e < Dh; e++) {
          let ze = 0;
          for (let j = 0; j <= i; j++) ze += pat[i * T + j] * v[j][e];
          if (ze !== 0) for (let d = 0; d < D; d++) add[i][d] += ze * WO[(h * Dh + e) * D + d];
        }
      }
      out[l].push(pat);
    }
    resid.forEach((x, i) => { for (let d = 0; d < D; d++) x[d] += add[i][d]; });
  }
  return out;
}

describe('head detectors', () => {
  it('score a hand-written pattern as defined', () => {
    const n = 4, o = 1, T = o + 2 * n;
    const p = new Float64Array(T * T);
    for (let d = 0; d < T; d++) p[d * T] = 1; // everything on BOS ...
    for (let i = 0; i < n; i++) {
      const d = o + n + i;
      p[d * T] = 0;
      p[d * T + d - n + 1] = 0.5 - 0.1 * i; // induction: 0.5, 0.4, 0.3, 0.2 (mean 0.35)
      p[d * T + d - n] = 0.3; // duplicate
      p[d * T + d - 1] = 0.2 + 0.1 * i; // previous: 0.2 .. 0.5 (mean 0.35); rows sum to 1
    }
    expect(detectorScore(p, T, n, o, 'induction')).toBeCloseTo(0.35, 12);
    expect(detectorScore(p, T, n, o, 'duplicate')).toBeCloseTo(0.3, 12);
    expect(detectorScore(p, T, n, o, 'previous')).toBeCloseTo(0.35, 12);
    expect(() => detectorScore(p, T + 1, n, o, 'induction')).toThrow(/not a repeated sequence/);
  });

  it('find the planted heads of a hand-set induction model, matching an independent float64 forward', async () => {
    const planted = plantedInductionModel();
    const model = HookedTransformer.fromStateDict(planted.cfg, planted.stateDict);
    try {
      const rep = repeatedRandomTokens(model.cfg, { n: 12, batch: 6, seed: 7 });
      expect(rep.offset).toBe(1);
      expect(rep.distinct).toBe(true);
      await detectHeads(model, rep);
      const s = await expectNoLeak(() => detectHeads(model, rep), 'detectHeads');
      // The right head wins each score, clearly.
      for (const [kind, h] of [['induction', planted.heads.induction], ['duplicate', planted.heads.duplicate], ['previous', planted.heads.previous]] as const) {
        const [best, second] = topHeads(s.scores[kind], 2);
        expect([best.layer, best.head], kind).toEqual([h.layer, h.head]);
        expect(best.score, kind).toBeGreaterThan(0.99);
        expect(second.score, kind).toBeLessThan(0.1);
      }
      // It is an induction mechanism: the second copy is predicted.
      const pred = tf.tidy(() => tf.argMax(model.forward(rep.tokens), -1).arraySync() as number[][]);
      for (let b = 0; b < rep.tokens.length; b++) for (let i = 0; i < rep.n - 1; i++) {
        const d = rep.offset + rep.n + i;
        expect(pred[b][d]).toBe(rep.tokens[b][d + 1]);
      }
      // Scores = the definition on patterns from an independent forward.
      const T = rep.offset + 2 * rep.n;
      for (const kind of DETECTORS) {
        const want: number[] = [];
        const pats = rep.tokens.map((row) => naivePatterns(planted.stateDict, model.cfg, row));
        for (let l = 0; l < 2; l++) for (let h = 0; h < 2; h++) want.push(pats.reduce((a, p) => a + detectorScore(p[l][h], T, rep.n, rep.offset, kind), 0) / pats.length);
        expectClose(s.scores[kind].flat(), want, TOL.component, `${kind} scores`);
      }
    } finally {
      model.dispose();
    }
  });

  it('batched scores = the definition on cached patterns (fixture GPT-2)', async () => {
    const rep = repeatedRandomTokens(gpt.cfg, { n: 7, batch: 3, seed: 1 });
    expect(rep.tokens[0][0]).toBe(50256);
    expect(rep.tokens.every((r) => r.every((t, i) => i === 0 || t < 50256))).toBe(true);
    const s = await detectHeads(gpt, rep);
    const { logits, cache } = gpt.runWithCache(rep.tokens, { names: [hook.pattern(0), hook.pattern(1)] });
    logits.dispose();
    const T = rep.offset + 2 * rep.n, H = gpt.cfg.nHeads;
    for (const kind of DETECTORS) {
      const want: number[] = [];
      for (let l = 0; l < 2; l++) {
        const p = cache.get(hook.pattern(l)).dataSync();
        for (let h = 0; h < H; h++) {
          let sum = 0;
          for (let b = 0; b < rep.tokens.length; b++) sum += detectorScore(p.subarray((b * H + h) * T * T, (b * H + h + 1) * T * T), T, rep.n, rep.offset, kind);
          want.push(sum / rep.tokens.length);
        }
      }
      expectClose(s.scores[kind].flat(), want, TOL.component, kind);
    }
    cache.dispose();
  });

  it('refuse sequences that do not fit the context', () => {
    expect(() => repeatedRandomTokens(gpt.cfg, { n: 16 })).toThrow(/33 tokens, longer than the model's context nCtx 32 \(at most --seq-len 15\)/);
    expect(repeatedRandomTokens(gpt.cfg).n).toBe(15);
  });
});

/** Float64 DLA per component (mean over rows), TransformerLens' recipe, from a full cache. */
function referenceDla(model: HookedTransformer, b: DlaBatch): Map<string, number> {
  const cfg = model.cfg, D = cfg.dModel, H = cfg.nHeads, N = b.tokens.length, T = b.tokens[0].length;
  const names = [hook.embed, hook.posEmbed, hook.lnFinalScale, ...Array.from({ length: cfg.nLayers }, (_, l) => [hook.result(l), hook.mlpOut(l)]).flat()];
  const { logits, cache } = model.runWithCache(b.tokens, { names });
  logits.dispose();
  const WU = model.params.WU.arraySync(), w = model.params.lnfw!.arraySync(), bO = model.params.layers.map((L) => L.bO.arraySync());
  const get = (n: string) => cache.get(n).dataSync();
  const out = new Map<string, number>();
  const addTo = (k: string, v: number) => out.set(k, (out.get(k) ?? 0) + v / N);
  const scale = get(hook.lnFinalScale);
  for (let r = 0; r < N; r++) {
    const p = b.positions[r][0], a = b.answers[r][0], wr = b.wrong[r][0][0];
    const u = Array.from({ length: D }, (_, d) => (WU[d][a] - WU[d][wr]) * w[d]);
    const s = scale[r * T + p];
    const dla = (x: ArrayLike<number>) => { const m = Array.from(x).reduce((q, y) => q + y, 0) / D; let t = 0; for (let d = 0; d < D; d++) t += (x[d] - m) * u[d]; return t / s; };
    addTo('embed', dla(get(hook.embed).subarray((r * T + p) * D, (r * T + p + 1) * D)));
    addTo('pos_embed', dla(get(hook.posEmbed).subarray((r * T + p) * D, (r * T + p + 1) * D)));
    const bias = new Array<number>(D).fill(0);
    for (let l = 0; l < cfg.nLayers; l++) {
      const res = get(hook.result(l));
      for (let h = 0; h < H; h++) addTo(`a${l}.h${h}`, dla(res.subarray(((r * T + p) * H + h) * D, ((r * T + p) * H + h + 1) * D)));
      addTo(`m${l}`, dla(get(hook.mlpOut(l)).subarray((r * T + p) * D, (r * T + p + 1) * D)));
      bO[l].forEach((x, d) => { bias[d] += x; });
    }
    addTo('bias', dla(bias));
  }
  cache.dispose();
  return out;
}

/** Mean logit(answer) - logit(wrong) with the head's z replaced by its per-position mean over `reference` (host arrays). */
function handAblation(model: HookedTransformer, b: DlaBatch, reference: number[][], layer: number, head: number): { metric: number; scale: number[] } {
  const { logits: l0, cache } = model.runWithCache(reference, { names: [hook.z(layer)] });
  l0.dispose();
  const z = cache.get(hook.z(layer)).arraySync() as number[][][][]; // [R, T, H, Dh]
  cache.dispose();
  const R = reference.length, T = z[0].length, Dh = z[0][0][0].length;
  const mean = Array.from({ length: T }, (_, t) => Array.from({ length: Dh }, (_, e) => z.reduce((a, row) => a + row[t][head][e], 0) / R));
  const hooks: HookSpec[] = [[hook.z(layer), (x) => tf.tidy(() => {
    const N = x.shape[0];
    const m = tf.buffer(x.shape as number[], 'float32');
    const rep = tf.buffer(x.shape as number[], 'float32');
    for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) for (let e = 0; e < Dh; e++) { m.set(1, n, t, head, e); rep.set(mean[t][e], n, t, head, e); }
    return tf.add(tf.mul(x, tf.sub(1, m.toTensor())), rep.toTensor());
  })]];
  const { logits, cache: c2 } = model.runWithCache(b.tokens, { names: model.cfg.normalizationType ? [hook.lnFinalScale] : [], hooks });
  const L = logits.arraySync() as number[][][];
  logits.dispose();
  const sc = model.cfg.normalizationType ? (c2.get(hook.lnFinalScale).arraySync() as number[][][]) : null;
  c2.dispose();
  let s = 0;
  const scale: number[] = [];
  b.tokens.forEach((_, r) => {
    const p = b.positions[r][0], wr = b.wrong[r][0];
    s += L[r][p][b.answers[r][0]] - (wr.length ? L[r][p][wr[0]] : 0);
    scale.push(sc ? sc[r][p][0] : 1);
  });
  return { metric: s / b.tokens.length, scale };
}

describe('direct logit attribution', () => {
  it('sums to Hugging Face\'s logit difference on the fixture prompts (sum rule, LN scale of the run)', async () => {
    const tok = new Gpt2Tokenizer();
    const [m, j] = [tok.toSingleToken(' Mary'), tok.toSingleToken(' John')];
    const rows = fixtureTokens(ref).slice(0, 2);
    const b: DlaBatch = { tokens: rows, positions: [[14], [14]], answers: [[m], [j]], wrong: [[[j]], [[m]]] };
    const r = await directLogitAttribution(gpt, b);
    const hf = ref.get('metric_logit_diff')!.data[0];
    expect(r.direction).toBe('logit(answer) - logit(wrong)');
    expectClose([r.sum], [hf], TOL.model, 'components + constant vs HF logit diff');
    expectClose([r.metric], [hf], TOL.model, 'measured metric vs HF');
    // The two prompts swap IO and S, so u flips sign and the constant cancels over the pair;
    // on one prompt it is there (the fixture's LN bias is non-trivial) and the rule still holds.
    const one = await directLogitAttribution(gpt, { tokens: [rows[0]], positions: [[14]], answers: [[m]], wrong: [[[j]]] });
    expect(Math.abs(one.constant)).toBeGreaterThan(1e-3);
    expectClose([one.sum], [one.metric], TOL.model, 'sum rule, one prompt');
  });

  it('equals the float64 TransformerLens recipe per component on an IOI batch, without leaks', async () => {
    const tb = ioiTask.build({ cfg: gpt.cfg, tokenizer: tokenizerFor(gpt.cfg) }, { n: 6, seed: 2 });
    const b: DlaBatch = { tokens: tb.clean, positions: tb.positions, answers: tb.answers, wrong: tb.wrong };
    await directLogitAttribution(gpt, b);
    const r = await expectNoLeak(() => directLogitAttribution(gpt, b), 'directLogitAttribution');
    const want = referenceDla(gpt, b);
    expect(r.components).toEqual(['embed', 'pos_embed', ...allHeads(gpt.cfg).map((h) => `a${h.layer}.h${h.head}`), 'm0', 'm1', 'bias']);
    expectClose(r.values, r.components.map((c) => want.get(c)!), TOL.model, 'DLA per component');
    expectClose([r.sum], [r.metric], TOL.model, 'sum rule');
    expect(r.heads[1][2]).toBe(r.values[r.components.indexOf('a1.h2')]);
  });

  it('does not change under weight processing (folded LN, centred weights and unembedding)', async () => {
    const { model } = await loadModel(FIXTURE_MODEL, { processing: ['foldLayerNorm', 'centerWritingWeights', 'centerUnembed'] });
    try {
      const tb = ioiTask.build({ cfg: gpt.cfg, tokenizer: tokenizerFor(gpt.cfg) }, { n: 4, seed: 6 });
      const b: DlaBatch = { tokens: tb.clean, positions: tb.positions, answers: tb.answers, wrong: tb.wrong };
      const raw = await directLogitAttribution(gpt, b), folded = await directLogitAttribution(model, b);
      expect(model.cfg.normalizationType).toBe('LNPre');
      expectClose(folded.values, raw.values, TOL.model, 'DLA, processed vs raw weights');
      expectClose([folded.constant, folded.metric], [raw.constant, raw.metric], TOL.model, 'constant and metric');
    } finally {
      model.dispose();
    }
  });

  it('ablate one head: batched = hand-written hooks; the sum rule holds in every ablated run', async () => {
    const tb = ioiTask.build({ cfg: gpt.cfg, tokenizer: tokenizerFor(gpt.cfg) }, { n: 5, seed: 4 });
    const b: DlaBatch = { tokens: tb.clean, positions: tb.positions, answers: tb.answers, wrong: tb.wrong };
    const heads = parseHeadList('0.3,1.2,1.0', gpt.cfg);
    const T = tb.clean[0].length;
    await ablateHeads(gpt, b, heads.slice(0, 1), tb.corrupt);
    // two heads per forward: chunks of 2 and 1
    const ex = await expectNoLeak(() => ablateHeads(gpt, b, heads, tb.corrupt, { maxTokens: 2 * 5 * T }), 'ablateHeads');
    expect(ex.ablations.map((a) => a.head)).toEqual(['a0.h3', 'a1.h2', 'a1.h0']);
    for (const a of ex.ablations) {
      const hand = handAblation(gpt, b, tb.corrupt, a.layer, a.index);
      expectClose([a.actual], [hand.metric], TOL.model, `${a.head} actual`);
      expectClose([a.dla.sum], [a.actual], TOL.model, `${a.head} sum rule in the ablated run`);
      expectClose([a.naive], [ex.clean.metric - a.direct + a.meanDirect], TOL.exact, `${a.head} naive`);
      expect(a.indirect).toBeCloseTo(a.actual - a.naive, 12);
    }
    // a layer-0 head reaches the logits through layer 1 as well: naive misses that
    expect(Math.abs(ex.ablations[0].indirect)).toBeGreaterThan(1e-3);
  });

  it('naive = actual without LayerNorm when the head only writes to the logits (min_int), direction logit(answer)', async () => {
    const { model } = await loadModel(`${SHARED}models/min_int`);
    try {
      const tb = getTask('min-int').build({ cfg: model.cfg, tokenizer: tokenizerFor(model.cfg) }, { n: 16, seed: 0 });
      const b: DlaBatch = { tokens: tb.clean, positions: tb.positions, answers: tb.answers, wrong: tb.wrong };
      const ex = await ablateHeads(model, b, [{ layer: 0, head: 0 }], tb.corrupt);
      expect(ex.clean.direction).toBe('logit(answer)');
      expect(ex.clean.components).toEqual(['embed', 'pos_embed', 'a0.h0', 'bias']);
      expectClose([ex.clean.sum], [ex.clean.metric], TOL.model, 'sum rule');
      const a = ex.ablations[0];
      expectClose([a.naive], [a.actual], TOL.model, 'naive vs actual');
      expect(Math.abs(a.actual - ex.clean.metric)).toBeGreaterThan(1); // the ablation matters
    } finally {
      model.dispose();
    }
  });

  it('with LayerNorm the frozen scale is the whole approximation: actual = (naive - c) * s / s\' + c for a last-layer head', async () => {
    const cfg = finalizeConfig({ modelName: 'ln-attn', nLayers: 2, nHeads: 2, dModel: 16, dHead: 8, nCtx: 8, dVocab: 20, attnOnly: true, normalizationType: 'LN' }, 'ln-attn');
    const sd = randomStateDict(cfg, 5, 0.4);
    const lw = sd.get('ln_final.w')!.data, lb = sd.get('ln_final.b')!.data;
    for (let d = 0; d < 16; d++) { lw[d] = 0.5 + (d % 5) * 0.3; lb[d] = 0.1 * ((d % 3) - 1); }
    const model = HookedTransformer.fromStateDict(cfg, sd);
    try {
      const b: DlaBatch = { tokens: [[3, 7, 1, 12, 5, 9]], positions: [[5]], answers: [[4]], wrong: [[[11]]] };
      const reference = [[2, 8, 8, 0, 6, 13], [14, 1, 4, 19, 3, 3], [7, 7, 10, 2, 15, 6]];
      for (const h of [0, 1]) {
        const ex = await ablateHeads(model, b, [{ layer: 1, head: h }], reference);
        const a = ex.ablations[0], c = ex.clean.constant;
        const s = handAblation(model, b, [b.tokens[0]], 0, 0).scale[0]; // clean scale (ablating with the row's own mean is the identity)
        const hand = handAblation(model, b, reference, 1, h);
        expectClose([a.actual], [hand.metric], TOL.model, 'actual');
        expectClose([a.actual], [(a.naive - c) * (s / hand.scale[0]) + c], TOL.model, `a1.h${h}: actual vs naive rescaled`);
        expect(Math.abs(s / hand.scale[0] - 1)).toBeGreaterThan(1e-3); // the scale did move
      }
    } finally {
      model.dispose();
    }
  });

  it('checks its batch', async () => {
    const b: DlaBatch = { tokens: [[1, 2, 3]], positions: [[3]], answers: [[1]], wrong: [[[2]]] };
    await expect(directLogitAttribution(gpt, b)).rejects.toThrow(/^dla: metric position 3 of row 0 is outside \[0, 3\)/);
    await expect(directLogitAttribution(gpt, { ...b, positions: [[2]], answers: [[60000]] })).rejects.toThrow(/^dla: answer token 60000 is outside/);
    await expect(ablateHeads(gpt, { ...b, positions: [[2]] }, [{ layer: 0, head: 0 }], [[1, 2]])).rejects.toThrow(/reference prompts must have 3 tokens/);
  });
});
