/**
 * The tfjs forward against Hugging Face transformers on the fixture GPT-2 (2 layers, 4 heads,
 * d_model 64, real vocabulary). Tolerances: TOL.model (1e-4) on logits, residuals, patterns,
 * z, final LN output and gradients; the fixture was computed in float32 by PyTorch.
 */
import { beforeAll, afterAll, describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import type { HookedTransformer } from '../../src/model/transformer.js';
import { hook } from '../../src/model/hook-names.js';
import { TOL, expectClose, expectNoLeak } from '../helpers.js';
import { FIXTURE_MODEL, readReference, type RefTensor } from '../fixture.js';

let model: HookedTransformer;
let ref: Map<string, RefTensor>;
let ids: number[][];
let lens: number[];

/** Rows of a [B,T,...] reference restricted to the first len[i] positions, flattened. */
function realRows(t: RefTensor | tf.Tensor, lengths: number[], T: number): number[] {
  const data = t instanceof tf.Tensor ? t.dataSync() : t.data;
  const shape = t.shape;
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let i = 0; i < shape[0]; i++) for (let p = 0; p < lengths[i]; p++) {
    const off = (i * T + p) * inner;
    for (let j = 0; j < inner; j++) out.push(data[off + j]);
  }
  return out;
}

beforeAll(async () => {
  await initBackend('wasm');
  ref = readReference();
  const inp = ref.get('input_ids')!;
  const T = inp.shape[1];
  ids = Array.from({ length: inp.shape[0] }, (_, i) => Array.from(inp.data.subarray(i * T, (i + 1) * T)));
  lens = Array.from(ref.get('lengths')!.data);
  model = (await loadModel(FIXTURE_MODEL, { quiet: true })).model;
});
afterAll(() => model?.dispose());

describe('HF GPT-2 fixture', () => {
  it('logits at the last real position match (1e-4)', () => {
    const logits = model.forward(ids);
    const V = logits.shape[2];
    const last = tf.tidy(() => tf.stack(lens.map((n, i) => tf.slice(logits, [i, n - 1, 0], [1, 1, V]).reshape([V]))));
    const worst = expectClose(last, ref.get('logits_last')!.data, TOL.model, 'logits_last');
    expect(worst).toBeLessThan(TOL.model);
    const first = tf.tidy(() => tf.slice(logits, [0, 0, 0], [ids.length, ids[0].length, 512]));
    expectClose(realRows(first, lens, ids[0].length), realRows(ref.get('logits_first512')!, lens, ids[0].length), TOL.model, 'logits_first512');
    tf.dispose([logits, last, first]);
  });

  it('resid_pre, patterns, z and ln_final match (1e-4)', () => {
    const T = ids[0].length;
    const names = [hook.residPre(0), hook.residPre(1), hook.pattern(0), hook.pattern(1), hook.z(0), hook.z(1), hook.lnFinalNormalized];
    const { logits, cache } = model.runWithCache(ids, { names });
    expect(cache.keys().sort()).toEqual([...names].sort());
    for (const l of [0, 1]) {
      expectClose(realRows(cache.get(hook.residPre(l)), lens, T), realRows(ref.get(`blocks.${l}.hook_resid_pre`)!, lens, T), TOL.model, `resid_pre ${l}`);
      // z: ours [B,T,H,Dh], the fixture's concatenated [B,T,H*Dh] (same memory order)
      expectClose(realRows(cache.get(hook.z(l)), lens, T), realRows(ref.get(`blocks.${l}.attn.hook_z`)!, lens, T), TOL.model, `z ${l}`);
      // patterns [B,H,Q,K]: compare query rows inside each prompt's real length
      const ours = cache.get(hook.pattern(l)).dataSync(), theirs = ref.get(`blocks.${l}.attn.hook_pattern`)!.data;
      const H = 4; const a: number[] = [], b: number[] = [];
      for (let i = 0; i < ids.length; i++) for (let h = 0; h < H; h++) for (let q = 0; q < lens[i]; q++) for (let k = 0; k < T; k++) {
        const o = ((i * H + h) * T + q) * T + k; a.push(ours[o]); b.push(theirs[o]);
      }
      expectClose(a, b, TOL.model, `pattern ${l}`);
    }
    expectClose(realRows(cache.get(hook.lnFinalNormalized), lens, T), realRows(ref.get('ln_final_out')!, lens, T), TOL.model, 'ln_final');
    cache.dispose(); logits.dispose();
  });

  it('gradient of the logit-difference metric wrt each resid_pre matches (1e-4)', async () => {
    const mary = 5335, john = 1757; // ' Mary', ' John' in GPT-2 BPE
    const metric = (logits: tf.Tensor3D) => tf.tidy(() => {
      const at = (row: number, id: number) => tf.slice(logits, [row, lens[row] - 1, id], [1, 1, 1]).reshape([]);
      return tf.div(tf.add(tf.sub(at(0, mary), at(0, john)), tf.sub(at(1, john), at(1, mary))), 2) as tf.Scalar;
    });
    const names = [hook.residPre(0), hook.residPre(1)];
    const { value, grads } = await model.gradients(ids, names, metric);
    expectClose([value], ref.get('metric_logit_diff')!.data, TOL.model, 'metric');
    const T = ids[0].length;
    for (const [l, n] of names.entries()) {
      expectClose(realRows(grads.get(n)!, lens, T), realRows(ref.get(`grad.blocks.${l}.hook_resid_pre`)!, lens, T), TOL.model, `grad resid_pre ${l}`);
    }
    tf.dispose([...grads.values()]);
  });

  it('split q/k/v inputs and per-head results reproduce the plain forward (1e-5)', () => {
    const plain = model.forward(ids);
    const split = model.runWithCache(ids, { names: (n) => /hook_(q|k|v)_input|hook_result/.test(n) });
    expect(split.cache.get(hook.qInput(1)).shape).toEqual([3, ids[0].length, 4, 64]);
    expect(split.cache.get(hook.result(0)).shape).toEqual([3, ids[0].length, 4, 64]);
    expectClose(split.logits, plain, TOL.component, 'split forward');
    split.cache.dispose(); tf.dispose([plain, split.logits]);
  });

  it('forward, cached forward and gradients leak no tensors', async () => {
    await expectNoLeak(() => { model.forward(ids).dispose(); }, 'forward');
    await expectNoLeak(() => { const r = model.runWithCache(ids); r.cache.dispose(); r.logits.dispose(); }, 'runWithCache');
    await expectNoLeak(async () => {
      const r = await model.gradients(ids, [hook.residPre(1)], (lg) => tf.mean(lg) as tf.Scalar);
      tf.dispose([...r.grads.values()]);
    }, 'gradients');
  });
});
