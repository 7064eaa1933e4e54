/**
 * The forward on the webgpu backend (SwiftShader where there is no GPU; see vitest.config.ts):
 * the HF GPT-2 fixture's logits and hooks equal Hugging Face's (test/fixture.ts), every hook of
 * the fixture and of the four toy models (../shared/models) equals the wasm backend's, the toy
 * models' logits equal their sample.json, gradients equal wasm's, and repeated forwards leak no
 * tensors. One file, so the shaders SwiftShader compiles (~0.5 s each) are shared by all tests.
 *
 * Reads are `await t.data()` only (tfjs-backend-webgpu's synchronous reads need OffscreenCanvas,
 * which Node lacks). Tolerances: TOL_GPU below, with the differences measured. Cost: ~25 s under
 * SwiftShader on 2 cores, most of it compiling shaders; hence one prompt of GPT-2 through the
 * unembedding and 4 rows per toy model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend, webgpuAdapterInfo } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { hook } from '../../src/model/hook-names.js';
import { SHARED } from '../helpers.js';
import { FIXTURE_MODEL, readReference, type RefTensor } from '../fixture.js';
import { expectNoLeakOver, expectWithin, host, readCache, recordDiff, reportDiffs, webgpuGate, type HostTensor } from './gpu.js';

/**
 * Tolerances: |ours - expected| <= abs + rel * max|expected|, about 5x what was measured here
 * (SwiftShader 5.0.0 through Dawn `webgpu` 0.6.2, tfjs-backend-webgpu 4.22; rerun with
 * CIRCUITSCOPE_WEBGPU_REPORT=1 to print the measured values). Measured max |diff|:
 * - vsHf, against the Hugging Face fixture (PyTorch fp32): logits 7.5e-6 (|logit| <= 7.2),
 *   resid_pre 3.6e-6, z 6.4e-6, pattern 1.3e-6, ln_final 3.9e-6. wasm's own test allows 1e-4.
 * - vsWasm, every hook against the wasm forward: at most 1.4e-6 of the largest |value|:
 *   resid-like 4.6e-5 (sort's attn_out, max 160; GPT-2's <= 8.6e-6 at <= 11), q/k/v 3.8e-6,
 *   unmasked attn_scores 2.3e-5 (max 93), pattern 1.0e-6, z/result 4.6e-5 (max 160), ln 2.9e-6,
 *   mlp pre/post 3.8e-6, logits 2.9e-4 (sort's, max 2000: 1.1e-6 relative); the log-prob
 *   metric 1.9e-6 (of 32) and its gradient wrt resid_pre 1.2e-6 (max 1.1).
 * - toy logits against sample.json (rounded to 6 significant digits): 6.1e-4 at |logit| 720,
 *   checked with toy-models.test.ts's 1e-4 + 1e-5 max|row|.
 * So fp32 on the GPU path needs no looser tolerance than wasm's here: the kernels sum in other
 * orders, a few ulps apart.
 */
const TOL_GPU = {
  vsHf: { abs: 5e-5 },
  vsWasm: { abs: 1e-5, rel: 5e-6 },
} as const;

const gate = webgpuGate();

interface Forward { logits: HostTensor; hooks: Map<string, HostTensor> }

/** Logits and every hook of `tokens`, read to the host. */
async function everyHook(model: HookedTransformer, tokens: number[][]): Promise<Forward> {
  const { logits, cache } = model.runWithCache(tokens);
  const l = { shape: logits.shape, data: await host(logits) };
  logits.dispose();
  return { logits: l, hooks: await readCache(cache) };
}

async function withModel<T>(spec: string, fn: (m: HookedTransformer) => Promise<T>): Promise<T> {
  const { model } = await loadModel(spec, { quiet: true });
  try { return await fn(model); } finally { model.dispose(); }
}

/**
 * Masked attention scores are score + attnIgnore (-1e5), equal only to ulp(1e5) = 8e-3: they
 * compare as 0 (a score masked on one side only still shows as a difference of its size).
 */
function comparable(name: string, x: Float32Array): Float32Array {
  return name.endsWith('hook_attn_scores') ? x.map((v) => (v < -1e4 ? 0 : v)) : x;
}

/** TransformerLens' hook points of a model of this shape, written out independently of src/. */
function expectedHooks(nLayers: number, attnOnly: boolean, layerNorm: boolean): string[] {
  const names = ['hook_embed', 'hook_pos_embed'];
  for (let l = 0; l < nLayers; l++) {
    const b = `blocks.${l}`;
    names.push(`${b}.hook_resid_pre`, `${b}.hook_q_input`, `${b}.hook_k_input`, `${b}.hook_v_input`,
      ...['q', 'k', 'v', 'attn_scores', 'pattern', 'z', 'result'].map((h) => `${b}.attn.hook_${h}`), `${b}.hook_attn_out`, `${b}.hook_resid_post`);
    if (layerNorm) names.push(`${b}.ln1.hook_scale`, `${b}.ln1.hook_normalized`);
    if (!attnOnly) {
      names.push(`${b}.hook_resid_mid`, `${b}.hook_mlp_in`, `${b}.mlp.hook_pre`, `${b}.mlp.hook_post`, `${b}.hook_mlp_out`);
      if (layerNorm) names.push(`${b}.ln2.hook_scale`, `${b}.ln2.hook_normalized`);
    }
  }
  if (layerNorm) names.push('ln_final.hook_scale', 'ln_final.hook_normalized');
  return names;
}

/** The kind of activation a hook holds, for the measured-difference report. */
function kind(name: string): string {
  const h = name.replace(/^.*hook_/, '');
  if (name.startsWith('ln')) return 'ln_final';
  if (/\.ln[12]\./.test(name)) return 'ln1/ln2';
  if (h === 'q' || h === 'k' || h === 'v') return 'q/k/v';
  if (h === 'attn_scores' || h === 'pattern') return h;
  if (h === 'z' || h === 'result') return 'z/result';
  if (h === 'pre' || h === 'post') return 'mlp pre/post';
  return 'resid (embed, resid_*, *_input, attn_out, mlp_in/out)';
}

/** Every hook and the logits of `ours` against the wasm forward. */
function expectEveryHook(ours: Forward, wasm: Forward, model: string, nLayers: number, attnOnly: boolean, layerNorm: boolean): void {
  const names = expectedHooks(nLayers, attnOnly, layerNorm);
  expect([...ours.hooks.keys()].sort()).toEqual([...names].sort());
  for (const n of names) {
    const a = ours.hooks.get(n)!, b = wasm.hooks.get(n)!;
    expect(a.shape, n).toEqual(b.shape);
    expectWithin(comparable(n, a.data), comparable(n, b.data), TOL_GPU.vsWasm, `${model} ${n}`, `vs wasm: ${kind(n)}`);
  }
  expectWithin(ours.logits.data, wasm.logits.data, TOL_GPU.vsWasm, `${model} logits`, 'vs wasm: logits');
}

interface Sample { tokens: number[][]; pred_positions: number[]; labels: number[][]; logits: number[][][] }
const TOYS: [dir: string, nLayers: number][] = [['min_int', 1], ['majority_element', 1], ['sort_fixed_len_list', 1], ['permute_lists', 2]];
/** Rows of each sample.json used (of 64): the same count everywhere, so shapes (and shaders) repeat. */
const ROWS = 4;
const toySample = (dir: string) => JSON.parse(readFileSync(`${SHARED}models/${dir}/sample.json`, 'utf8')) as Sample;

/**
 * The mean log-prob of every token at the scored positions (exercises softmax, slicing and matmul
 * gradients; the labels' own log-probs are ~0 on these trained models, and so their gradients).
 */
function logprobMetric(s: Sample, rows: number) {
  return (logits: tf.Tensor3D) => tf.tidy(() => {
    const [B, T, V] = logits.shape;
    const w = new Float32Array(B * T * V);
    const n = rows * s.pred_positions.length * V;
    for (let i = 0; i < rows; i++) for (const p of s.pred_positions) w.fill(1 / n, (i * T + p) * V, (i * T + p + 1) * V);
    return tf.sum(tf.mul(tf.logSoftmax(logits), tf.tensor3d(w, [B, T, V]))) as tf.Scalar;
  });
}

describe.skipIf(!gate.ok)('webgpu forward', () => {
  let ref: Map<string, RefTensor>;
  let ids: number[][];
  let lens: number[];
  const wasm = new Map<string, Forward>();
  const wasmGrads = new Map<string, Float32Array>();
  const permute = `${SHARED}models/permute_lists`;
  const gradNames = [hook.residPre(0), hook.residPre(1)];

  beforeAll(async () => {
    ref = readReference();
    const inp = ref.get('input_ids')!;
    const T = inp.shape[1];
    ids = Array.from({ length: inp.shape[0] }, (_, i) => Array.from(inp.data.subarray(i * T, (i + 1) * T)));
    lens = Array.from(ref.get('lengths')!.data);
    // References from wasm first (the backend the rest of the tests check against PyTorch).
    await initBackend('wasm');
    wasm.set('gpt2', await withModel(FIXTURE_MODEL, (m) => everyHook(m, [ids[0].slice(0, lens[0])])));
    for (const [dir] of TOYS) wasm.set(dir, await withModel(`${SHARED}models/${dir}`, (m) => everyHook(m, toySample(dir).tokens.slice(0, ROWS))));
    const s = toySample('permute_lists');
    const g = await withModel(permute, (m) => m.gradients(s.tokens.slice(0, ROWS), gradNames, logprobMetric(s, ROWS)));
    for (const [n, t] of g.grads) { wasmGrads.set(n, await host(t)); t.dispose(); }
    wasmGrads.set('value', Float32Array.of(g.value));
    expect(await initBackend('webgpu')).toBe('webgpu');
    expect(webgpuAdapterInfo()).toEqual(gate.adapter);
  });
  afterAll(() => reportDiffs('webgpu'));

  describe('HF GPT-2 fixture', () => {
    let model: HookedTransformer;
    beforeAll(async () => { model = (await loadModel(FIXTURE_MODEL, { quiet: true })).model; });
    afterAll(() => model?.dispose());

    /** Rows of a [B,T,...] array restricted to each prompt's first len[i] positions. */
    const realRows = (data: ArrayLike<number>, shape: number[]): number[] => {
      const T = shape[1], inner = shape.slice(2).reduce((a, b) => a * b, 1);
      const out: number[] = [];
      for (let i = 0; i < shape[0]; i++) for (let p = 0; p < lens[i]; p++) for (let j = 0; j < inner; j++) out.push(data[(i * T + p) * inner + j]);
      return out;
    };

    it('logits at the last positions, resid_pre, patterns and z equal Hugging Face (three prompts, batched)', async () => {
      // The fused q/k/v path, batched and right-padded. Only the last real positions go through
      // the unembedding: [45, 64] x [64, 50257] alone takes ~13 s under SwiftShader.
      const names = [hook.residPre(0), hook.residPre(1), hook.pattern(0), hook.pattern(1), hook.z(0), hook.z(1)];
      const kept = new Map<string, tf.Tensor>();
      const resid = model.residualWithHooks(ids, names.map((n) => [n, (x: tf.Tensor) => { kept.set(n, tf.keep(x.clone())); }]));
      const last = tf.tidy(() => model.unembed(tf.stack(lens.map((n, i) => tf.slice(resid, [i, n - 1, 0], [1, 1, resid.shape[2]]).reshape([resid.shape[2]])))));
      const T = ids[0].length;
      const got = await host(last);
      const hooks = new Map(await Promise.all(names.map(async (n) => [n, { shape: kept.get(n)!.shape, data: await host(kept.get(n)!) }] as const)));
      tf.dispose([resid, last, ...kept.values()]);
      expectWithin(got, ref.get('logits_last')!.data, TOL_GPU.vsHf, 'logits_last', 'logits vs HF');
      for (const l of [0, 1]) {
        const r = hooks.get(hook.residPre(l))!, z = hooks.get(hook.z(l))!;
        expectWithin(realRows(r.data, r.shape), realRows(ref.get(`blocks.${l}.hook_resid_pre`)!.data, r.shape), TOL_GPU.vsHf, `resid_pre ${l}`, 'resid_pre vs HF');
        // z: ours [B,T,H,Dh], the fixture's concatenated [B,T,H*Dh] (same memory order)
        expectWithin(realRows(z.data, z.shape), realRows(ref.get(`blocks.${l}.attn.hook_z`)!.data, z.shape), TOL_GPU.vsHf, `z ${l}`, 'z vs HF');
        // patterns [B,H,Q,K]: the query rows inside each prompt's real length
        const ours = hooks.get(hook.pattern(l))!.data, theirs = ref.get(`blocks.${l}.attn.hook_pattern`)!.data;
        const H = 4, a: number[] = [], b: number[] = [];
        for (let i = 0; i < ids.length; i++) for (let h = 0; h < H; h++) for (let q = 0; q < lens[i]; q++) for (let k = 0; k < T; k++) {
          const o = ((i * H + h) * T + q) * T + k; a.push(ours[o]); b.push(theirs[o]);
        }
        expectWithin(a, b, TOL_GPU.vsHf, `pattern ${l}`, 'pattern vs HF');
      }
    });

    it('every hook equals wasm; logits and ln_final equal Hugging Face (split q/k/v path, one prompt)', async () => {
      const n = lens[0];
      expect(n, 'prompt 0 fills the fixture rows (no padding)').toBe(ids[0].length);
      const ours = await everyHook(model, [ids[0].slice(0, n)]);
      expectEveryHook(ours, wasm.get('gpt2')!, 'gpt2', 2, false, true);
      const V = ours.logits.shape[2];
      const lg = ours.logits.data;
      expectWithin(lg.subarray((n - 1) * V, n * V), ref.get('logits_last')!.data.subarray(0, V), TOL_GPU.vsHf, 'logits_last[0]', 'logits vs HF');
      const first = Array.from({ length: n }, (_, p) => Array.from(lg.subarray(p * V, p * V + 512))).flat();
      expectWithin(first, ref.get('logits_first512')!.data.subarray(0, n * 512), TOL_GPU.vsHf, 'logits_first512[0]', 'logits vs HF');
      const ln = ours.hooks.get(hook.lnFinalNormalized)!.data;
      expectWithin(ln, ref.get('ln_final_out')!.data.subarray(0, n * 64), TOL_GPU.vsHf, 'ln_final[0]', 'ln_final vs HF');
    });
  });

  describe.each(TOYS)('toy model %s', (dir, nLayers) => {
    it('logits equal sample.json; every hook equals wasm', async () => {
      const s = toySample(dir);
      const ours = await withModel(`${SHARED}models/${dir}`, (m) => everyHook(m, s.tokens.slice(0, ROWS)));
      expectEveryHook(ours, wasm.get(dir)!, dir, nLayers, true, false);
      const [, T, V] = ours.logits.shape;
      let worst = 0, worstDiff = 0, worstScale = 0;
      for (let i = 0; i < ROWS; i++) s.pred_positions.forEach((p, j) => {
        const row = s.logits[i][j], scale = Math.max(...row.map(Math.abs));
        row.forEach((v, k) => {
          const d = Math.abs(ours.logits.data[(i * T + p) * V + k] - v);
          if (d > worstDiff) { worstDiff = d; worstScale = scale; }
          worst = Math.max(worst, d - (1e-4 + 1e-5 * scale));
        });
      });
      recordDiff('toy logits vs sample.json', worstDiff, worstScale);
      expect(worst, `${dir}: logit error beyond 1e-4 + 1e-5 max|row|`).toBeLessThanOrEqual(0);
    });
  });

  describe('gradients and tensor leaks (permute_lists)', () => {
    let model: HookedTransformer;
    const s = toySample('permute_lists');
    const tokens = s.tokens.slice(0, ROWS);
    beforeAll(async () => { model = (await loadModel(permute, { quiet: true })).model; });
    afterAll(() => model?.dispose());

    it('the gradient of a log-prob metric wrt each resid_pre equals wasm', async () => {
      const g = await model.gradients(tokens, gradNames, logprobMetric(s, ROWS));
      expectWithin([g.value], wasmGrads.get('value')!, TOL_GPU.vsWasm, 'metric', 'metric vs wasm');
      for (const [n, t] of g.grads) {
        expectWithin(await host(t), wasmGrads.get(n)!, TOL_GPU.vsWasm, `grad ${n}`, 'grad vs wasm');
        t.dispose();
      }
    });

    it('forwards, cached forwards and gradients leak no tensors', async () => {
      await expectNoLeakOver(10, async () => { const l = model.forward(tokens); await l.data(); l.dispose(); }, 'forward');
      const names = [hook.residPre(1), hook.pattern(0), hook.z(1)];
      await expectNoLeakOver(3, async () => { const r = model.runWithCache(tokens, { names }); await r.logits.data(); r.logits.dispose(); r.cache.dispose(); }, 'runWithCache');
      await expectNoLeakOver(2, async () => {
        const r = await model.gradients(tokens, [hook.residPre(1)], logprobMetric(s, ROWS));
        tf.dispose([...r.grads.values()]);
      }, 'gradients');
    });
  });
});
