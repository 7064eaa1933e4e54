/**
 * Activation and path patching (src/patching/activation.ts) and the `patch` command, checked
 * against identities that hold whatever the weights and against hand-written hooks:
 * - resid_pre patched at every position of any layer = the source run (normalised 1 when
 *   denoising, 0 when noising); positions where clean and corrupted agree (and, causally, every
 *   earlier position at every layer, and positions after the metric position) change nothing;
 *   at layer 0 the single differing position carries everything.
 * - patching q and k of a head = patching its pattern; pattern and v = its output z.
 * - batched sweeps = one patch per forward = a hand-written unbatched hook.
 * - path patching (engine) = hand-written hooks: head -> logits for every head, and one
 *   sender -> receiver q pair; all edges patched = the source run, none = the base run.
 * - permute_lists: head 0.0 reaches 1.0 through its value input (the acceptance check).
 * - no tensor leaks; bad inputs give errors naming the prompt, the argument or the metric.
 * Tolerances: TOL.component (1e-5) on normalised metrics, TOL.model (1e-4) on raw logit
 * differences (logits of scale ~10-30).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/model/backend.js';
import { loadModel } from '../../src/model/load-model.js';
import { finalizeConfig } from '../../src/model/config.js';
import { randomStateDict } from '../../src/model/weights.js';
import { HookedTransformer, type HookSpec } from '../../src/model/transformer.js';
import { hook } from '../../src/model/hook-names.js';
import { Gpt2Tokenizer } from '../../src/model/tokenizer.js';
import { layoutEdges } from '../../src/graph/layout.js';
import {
  headSweep, normalise, patchBatchFromTask, pathFromSendersSweeps, pathSweep, pathToLogitsSweep, pathToReceiversSweep, preparePatching,
  residPreSweep, runActivationPatches, runPathPatches, runPatching, pathEngine,
  type PatchBatch, type PatchContext, type PatchMode,
} from '../../src/patching/activation.js';
import { Rng } from '../../src/util/rng.js';
import { SHARED, TOL, expectNoLeak, runCli } from '../helpers.js';
import { FIXTURE_MODEL } from '../fixture.js';

const PERMUTE = `${SHARED}models/permute_lists`;

const IOI = {
  clean: ['When Mary and John went to the store, John gave a drink to', 'When John and Mary went to the park, Mary gave a book to'],
  corrupt: ['When Mary and John went to the store, Paul gave a drink to', 'When John and Mary went to the park, Paul gave a book to'],
  answers: [' Mary', ' John'],
  wrongs: [' John', ' Mary'],
};

let gpt: HookedTransformer;
let perm: HookedTransformer;
let ioi: PatchBatch;
let permBatch: PatchBatch;

/** permute_lists prompts [BOS, a0..a2, MID, p0..p2, END] scored at END (answer a_{p0}); the
 * corrupted prompt changes the list, so the answer moves to the corrupted list's a'_{p0}. */
function permutePrompts(n: number, seed: number): PatchBatch {
  const rng = new Rng(seed);
  const b: PatchBatch = { clean: [], corrupt: [], answers: [], wrongs: [] };
  for (let i = 0; i < n; i++) {
    const a = [rng.int(0, 50), rng.int(0, 50), rng.int(0, 50)];
    const c = [rng.int(0, 50), rng.int(0, 50), rng.int(0, 50)];
    const p = rng.perm(3);
    if (c[p[0]] === a[p[0]]) c[p[0]] = (a[p[0]] + 1) % 50;
    b.clean.push([52, ...a, 51, ...p, 50]);
    b.corrupt.push([52, ...c, 51, ...p, 50]);
    b.answers.push(a[p[0]]);
    b.wrongs.push(c[p[0]]);
  }
  return b;
}

beforeAll(async () => {
  await initBackend('wasm');
  gpt = (await loadModel(FIXTURE_MODEL, { quiet: true })).model;
  perm = (await loadModel(PERMUTE, { quiet: true })).model;
  const tok = new Gpt2Tokenizer();
  ioi = {
    clean: IOI.clean.map((s) => tok.toTokens(s)),
    corrupt: IOI.corrupt.map((s) => tok.toTokens(s)),
    answers: IOI.answers.map((s) => tok.toSingleToken(s)),
    wrongs: IOI.wrongs.map((s) => tok.toSingleToken(s)),
  };
  permBatch = permutePrompts(6, 11);
});
afterAll(() => { gpt?.dispose(); perm?.dispose(); });

/** The logit difference of `model` on `tokens` with hooks, computed the plain way on the host. */
function metricWithHooks(ctx: PatchContext, tokens: number[][], hooks: HookSpec[]): number {
  const logits = ctx.model.runWithHooks(tokens, hooks);
  const [, T, V] = logits.shape;
  const data = logits.dataSync();
  logits.dispose();
  let s = 0;
  tokens.forEach((_, b) => {
    const at = (b * T + ctx.positions[b]) * V;
    s += data[at + ctx.answers[b]] - data[at + ctx.wrongs[b]];
  });
  return s / tokens.length;
}

/** Hand-written unbatched activation patch: replace the slice `pick` of `name` with the source run's. */
function manualPatch(ctx: PatchContext, name: string, pick: (x: tf.Tensor) => tf.Tensor /* 0/1 mask of x's shape */): number {
  const { logits, cache } = ctx.model.runWithCache(ctx.source, { names: [name] });
  logits.dispose();
  try {
    const src = cache.get(name);
    return metricWithHooks(ctx, ctx.base, [[name, (x) => { const m = pick(x); return tf.where(tf.cast(m, 'bool'), src, x); }]]);
  } finally {
    cache.dispose();
  }
}

/** 0/1 mask of shape `shape` selecting `index` along `axis`. */
function axisMask(shape: number[], axis: number, index: number): tf.Tensor {
  return tf.tidy(() => {
    const oh = tf.oneHot(tf.tensor1d([index], 'int32'), shape[axis]).reshape([shape[axis]]);
    const s = shape.map((_, i) => (i === axis ? shape[axis] : 1));
    return tf.broadcastTo(tf.reshape(oh, s), shape);
  });
}

const near = (a: number, b: number, tol: number, what: string) => {
  expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(tol);
};

describe('activation patching: identities (HF fixture GPT-2, IOI-style prompts)', () => {
  it('prompts tokenise to equal lengths and differ at one position', () => {
    expect(ioi.clean[0]).toHaveLength(15);
    const diff = ioi.clean[0].map((c, i) => (c !== ioi.corrupt[0][i] ? i : -1)).filter((i) => i >= 0);
    expect(diff).toEqual([10]);
  });

  for (const mode of ['denoise', 'noise'] as PatchMode[]) {
    it(`${mode}: resid_pre at every position of a layer reproduces the source run`, async () => {
      const ctx = await preparePatching(gpt, ioi, mode);
      const target = mode === 'denoise' ? 1 : 0;
      const raw = await runActivationPatches(ctx, [[{ hook: hook.residPre(0) }], [{ hook: hook.residPre(1) }], []], { skipIdentical: false });
      near(normalise(ctx, raw[0]), target, TOL.component, 'layer 0, all positions');
      near(normalise(ctx, raw[1]), target, TOL.component, 'layer 1, all positions');
      near(normalise(ctx, raw[2]), 1 - target, TOL.component, 'no patch');
    });
  }

  it('resid_pre sweep: unchanged positions do nothing, the differing one at layer 0 does everything', async () => {
    const ctx = await preparePatching(gpt, ioi, 'denoise');
    // Computed (skipIdentical: false), then with identical patches skipped: the same numbers.
    const s = await residPreSweep(ctx, { skipIdentical: false });
    const skipped = await residPreSweep(ctx);
    skipped.raw.flat().forEach((v, i) => near(v!, s.raw.flat()[i]!, TOL.model, `skipIdentical cell ${i}`));
    expect([s.rows, s.cols]).toEqual([2, 15]);
    expect(s.rowLabels).toEqual(['L0', 'L1']);
    expect(s.colLabels[10]).toBe('10  John/ Paul');
    expect(s.colLabels[2]).toBe('2  Mary');
    for (let p = 0; p < 15; p++) {
      // layer 0: clean and corrupted resid_pre differ only at position 10
      near(s.values[0][p]!, p === 10 ? 1 : 0, TOL.component, `L0 p${p}`);
      // causal: positions before 10 are identical in both runs at every layer
      if (p < 10) near(s.values[1][p]!, 0, TOL.component, `L1 p${p}`);
    }
    // the reported raw values are the metric: normalised 1 <=> raw = clean metric
    near(s.raw[0][10]!, ctx.cleanMetric, TOL.model, 'raw L0 p10');
  });

  it('positions after the metric position change nothing (causality)', async () => {
    const T = ioi.clean[0].length;
    const ctx = await preparePatching(gpt, { ...ioi, positions: [T - 4, T - 3] }, 'noise');
    const s = await residPreSweep(ctx, { skipIdentical: false });
    for (let l = 0; l < 2; l++) {
      near(s.values[l][T - 1]!, 1, TOL.component, `L${l} last`);
      near(s.values[l][T - 2]!, 1, TOL.component, `L${l} second to last`);
    }
    expect(Math.abs(s.values[1][T - 3]! - 1)).toBeGreaterThan(1e-3); // row 1 reads position T - 3
  });

  it('q and k = pattern; pattern and v = head output (z)', async () => {
    const ctx = await preparePatching(gpt, ioi, 'denoise');
    const pattern = await headSweep(ctx, 'pattern'), out = await headSweep(ctx, 'out');
    const variants = [];
    for (let l = 0; l < 2; l++) for (let h = 0; h < 4; h++) {
      variants.push([{ hook: hook.q(l), axis: 2, index: h }, { hook: hook.k(l), axis: 2, index: h }]);
      variants.push([{ hook: hook.pattern(l), axis: 1, index: h }, { hook: hook.v(l), axis: 2, index: h }]);
    }
    const raw = await runActivationPatches(ctx, variants);
    for (let l = 0; l < 2; l++) for (let h = 0; h < 4; h++) {
      const i = 2 * (l * 4 + h);
      near(raw[i], pattern.raw[l][h]!, TOL.model, `q+k vs pattern L${l}H${h}`);
      near(raw[i + 1], out.raw[l][h]!, TOL.model, `pattern+v vs z L${l}H${h}`);
    }
    // Not all trivial: some head matters.
    expect(Math.max(...out.values.flat().map((v) => Math.abs(v!)))).toBeGreaterThan(0.05);
  });

  it('batched sweeps = one patch per forward = a hand-written hook', async () => {
    for (const mode of ['denoise', 'noise'] as PatchMode[]) {
      const ctx = await preparePatching(gpt, ioi, mode);
      const batched = await residPreSweep(ctx, { skipIdentical: false });
      const single = await residPreSweep(ctx, { maxRows: ctx.B, skipIdentical: false });
      batched.raw.flat().forEach((v, i) => near(v!, single.raw.flat()[i]!, TOL.model, `${mode} resid cell ${i}`));
      near(batched.raw[1][14]!, manualPatch(ctx, hook.residPre(1), (x) => axisMask(x.shape, 1, 14)), TOL.model, `${mode} manual resid L1 p14`);
      const heads = await headSweep(ctx, 'out');
      near(heads.raw[1][1]!, manualPatch(ctx, hook.z(1), (x) => axisMask(x.shape, 2, 1)), TOL.model, `${mode} manual z L1H1`);
      const pat = await headSweep(ctx, 'pattern', { maxRows: 3 });
      near(pat.raw[0][0]!, manualPatch(ctx, hook.pattern(0), (x) => axisMask(x.shape, 1, 0)), TOL.model, `${mode} manual pattern L0H0`);
      const v = await headSweep(ctx, 'v');
      near(v.raw[0][3]!, manualPatch(ctx, hook.v(0), (x) => axisMask(x.shape, 2, 3)), TOL.model, `${mode} manual v L0H3`);
    }
  });
});

describe('path patching (engine) against hand-written hooks', () => {
  /** Hooks that record a head's output in the running forward and add (source - running) into a receiver. */
  function manualPath(ctx: PatchContext, sender: [number, number], receiver: 'logits' | [number, number, 'q' | 'k' | 'v']): number {
    const [sl, sh] = sender;
    const { logits, cache } = ctx.model.runWithCache(ctx.source, { names: [hook.result(sl)] });
    logits.dispose();
    const src = tf.tidy(() => tf.squeeze(tf.slice(cache.get(hook.result(sl)), [0, 0, sh, 0], [-1, -1, 1, -1]), [2]));
    cache.dispose();
    let running: tf.Tensor | null = null;
    const hooks: HookSpec[] = [[hook.result(sl), (r) => { running = tf.keep(tf.squeeze(tf.slice(r, [0, 0, sh, 0], [-1, -1, 1, -1]), [2])); }]];
    if (receiver === 'logits') {
      hooks.push([hook.residPost(ctx.model.cfg.nLayers - 1), (x) => tf.add(x, tf.sub(src, running!))]);
    } else {
      const [rl, rh, x] = receiver;
      const name = { q: hook.qInput(rl), k: hook.kInput(rl), v: hook.vInput(rl) }[x];
      hooks.push([name, (inp) => {
        const H = inp.shape[2]!;
        const add = tf.stack(Array.from({ length: H }, (_, h) => (h === rh ? tf.sub(src, running!) : tf.zerosLike(src))), 2);
        return tf.add(inp, add);
      }]);
    }
    try {
      return metricWithHooks(ctx, ctx.base, hooks);
    } finally {
      src.dispose();
      (running as tf.Tensor | null)?.dispose();
    }
  }

  for (const mode of ['denoise', 'noise'] as PatchMode[]) {
    it(`${mode}: head -> logits for every head, and a0.h1 -> a1.h2<q>`, async () => {
      const ctx = await preparePatching(gpt, ioi, mode);
      const s = await pathToLogitsSweep(ctx);
      for (let l = 0; l < 2; l++) for (let h = 0; h < 4; h++) near(s.raw[l][h]!, manualPath(ctx, [l, h], 'logits'), TOL.model, `${mode} a${l}.h${h}->logits`);
      const [q] = await pathFromSendersSweeps(ctx, ['0.1']);
      expect(q.values[0]).toEqual([null, null, null, null]); // nothing precedes layer 0
      near(q.raw[1][2]!, manualPath(ctx, [0, 1], [1, 2, 'q']), TOL.model, `${mode} a0.h1->a1.h2<q>`);
      const one = await pathSweep(ctx, ['a0.h1'], ['a1.h2<q>', '1.3.v']);
      expect(one.colLabels).toEqual(['a1.h2<q>', '1.3.v', 'all']);
      near(one.raw[0][0]!, q.raw[1][2]!, TOL.model, 'pathSweep = pathFromSenders');
      near(one.raw[0][1]!, manualPath(ctx, [0, 1], [1, 3, 'v']), TOL.model, `${mode} a0.h1->a1.h3<v>`);
      const toR = await pathToReceiversSweep(ctx, ['a1.h2<q>']);
      near(toR.raw[0][1]!, q.raw[1][2]!, TOL.model, 'pathToReceivers = pathFromSenders');
      expect(toR.values[1]).toEqual([null, null, null, null]);
    });

    it(`${mode}: every edge patched = the source run; no edge = the base run`, async () => {
      const ctx = await preparePatching(gpt, ioi, mode);
      const engine = pathEngine(ctx);
      try {
        const [all, none] = await runPathPatches(ctx, [layoutEdges(engine.layout), []], { engine });
        near(normalise(ctx, all), mode === 'denoise' ? 1 : 0, TOL.component, 'all edges');
        near(normalise(ctx, none), mode === 'denoise' ? 0 : 1, TOL.component, 'no edges');
      } finally {
        engine.dispose();
      }
    });
  }

  it('permute_lists: head 0.0 carries the answer into 1.0 through its value input', async () => {
    const ctx = await preparePatching(perm, permBatch, 'denoise');
    expect(ctx.cleanMetric).toBeGreaterThan(10);
    expect(ctx.corruptedMetric).toBeLessThan(-10);
    const [q, k, v] = await pathFromSendersSweeps(ctx, ['0.0']);
    expect(v.values[1][0]!).toBeGreaterThan(0.9);
    expect(Math.abs(q.values[1][0]!)).toBeLessThan(0.1);
    expect(Math.abs(k.values[1][0]!)).toBeLessThan(0.1);
    const logits = await pathToLogitsSweep(ctx);
    expect(logits.values[1][0]!).toBeGreaterThan(0.9); // 1.0 writes the answer
    expect(Math.abs(logits.values[0][0]!)).toBeLessThan(0.1); // 0.0 does not, directly
    // Noising agrees: cutting 0.0 -> 1.0<v> destroys the answer.
    const noise = await preparePatching(perm, permBatch, 'noise');
    expect((await pathFromSendersSweeps(noise, ['a0.h0']))[2].values[1][0]!).toBeLessThan(0.1);
  });
});

describe('runPatching', () => {
  it('runs every sweep without leaking tensors', async () => {
    const r = await expectNoLeak(async () => {
      const ctx = await preparePatching(gpt, ioi, 'noise');
      return runPatching(ctx, { kinds: ['all'], senders: ['0.0', '0.2'] });
    }, 'preparePatching + runPatching');
    expect(r.sweeps.map((s) => s.name)).toEqual(['resid_pre', 'head_out', 'head_q', 'head_k', 'head_v', 'head_pattern', 'path_logits', 'path_q', 'path_k', 'path_v']);
    expect(r.mode).toBe('noise');
    for (const s of r.sweeps) {
      expect(s.values).toHaveLength(s.rows);
      for (const row of s.values) expect(row).toHaveLength(s.cols);
    }
    const only = await runPatching(await preparePatching(gpt, ioi), { kinds: ['path'], receivers: ['a1.h0'] });
    expect(only.sweeps.map((s) => s.name)).toEqual(['path_logits', 'path_to_receivers']);
  });
});

describe('bad inputs', () => {
  it('clean and corrupted prompts of different lengths name the prompt and both lengths', async () => {
    const bad = { ...ioi, corrupt: [ioi.corrupt[0], [...ioi.corrupt[1], 13]] };
    await expect(preparePatching(gpt, bad)).rejects.toThrow(/patch: prompt 1: the clean prompt is 15 tokens but the corrupted prompt is 16/);
    const ragged = { ...ioi, clean: [ioi.clean[0], ioi.clean[1].slice(1)], corrupt: [ioi.corrupt[0], ioi.corrupt[1].slice(1)] };
    await expect(preparePatching(gpt, ragged)).rejects.toThrow(/prompt 1 is 14 tokens but prompt 0 is 15/);
  });

  it('answers outside the output vocabulary, bad positions and senders are named', async () => {
    await expect(preparePatching(perm, { ...permBatch, answers: permBatch.answers.map((a, i) => (i === 2 ? 51 : a)) })).rejects.toThrow(/prompt 2: answer id 51 is outside the model's output vocabulary \[0, 50\)/);
    await expect(preparePatching(gpt, { ...ioi, positions: [3, 15] })).rejects.toThrow(/prompt 1: metric position 15/);
    const ctx = await preparePatching(gpt, ioi);
    await expect(pathFromSendersSweeps(ctx, ['7.0'])).rejects.toThrow(/sender '7.0' is not a sender/);
    await expect(pathSweep(ctx, ['1.0'], ['a0.h1<q>'])).rejects.toThrow(/no edge runs from a1.h0 into 'a0.h1<q>'/);
    await expect(pathToReceiversSweep(ctx, ['a1.h9<q>'])).rejects.toThrow(/receiver 'a1.h9<q>'/);
  });

  it('a task batch converts when it has one metric position per row', () => {
    const b = patchBatchFromTask({ clean: [[1, 2]], corrupt: [[1, 3]], positions: [[1]], answers: [[5]], wrong: [[[6, 7]]] });
    expect(b).toEqual({ clean: [[1, 2]], corrupt: [[1, 3]], answers: [5], wrongs: [6], positions: [1] });
    expect(() => patchBatchFromTask({ clean: [[1, 2]], corrupt: [[1, 3]], positions: [[0, 1]], answers: [[5, 5]], wrong: [[[6], [6]]] })).toThrow(/row 0 .* exactly one position/);
  });

  it('a NaN metric and an undefined normalisation are clear errors naming the metric', async () => {
    const cfg = finalizeConfig({ nLayers: 1, nHeads: 1, dModel: 8, dHead: 8, nCtx: 8, dVocab: 10, attnOnly: true, normalizationType: null }, 'nan-model');
    const sd = randomStateDict(cfg, 1);
    for (let d = 0; d < 8; d++) sd.get('unembed.W_U')!.data[d * 10 + 3] = NaN; // W_U [D, V]: column 3 = token 3's logit
    const m = HookedTransformer.fromStateDict(cfg, sd);
    try {
      const b = { clean: [[1, 2, 3]], corrupt: [[1, 4, 3]], answers: [3], wrongs: [5] };
      await expect(preparePatching(m, b)).rejects.toThrow(/patch: metric logit-diff is NaN on the clean run/);
      await expect(preparePatching(m, { ...b, answers: [6], corrupt: [[1, 2, 3]] })).rejects.toThrow(/metric logit-diff is .* on both the clean and the corrupted run/);
    } finally {
      m.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The command line, end to end

const cli = (args: string[]) => runCli(args);

describe('circuitscope patch', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'circuitscope-patch-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('IOI prompts on the fixture: --json, --out, --html and --svg', async () => {
    const args = ['patch', '--model', FIXTURE_MODEL, '--backend', 'wasm', '--kind', 'resid,heads', '--json',
      '--out', join(dir, 'p.json'), '--html', join(dir, 'p.html'), '--svg', join(dir, 'svg', 'ioi-')];
    for (let i = 0; i < 2; i++) args.push('--clean', IOI.clean[i], '--corrupt', IOI.corrupt[i], '--answer', IOI.answers[i], '--wrong', IOI.wrongs[i]);
    const r = await cli(args);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['model', 'backend', 'mode', 'metric', 'normalisation', 'clean', 'corrupted', 'prompts', 'options', 'sweeps', 'seconds']);
    expect([out.backend, out.mode, out.metric]).toEqual(['wasm', 'denoise', 'logit-diff']);
    const ctx = await preparePatching(gpt, ioi);
    near(out.clean, ctx.cleanMetric, TOL.model, 'clean metric');
    near(out.corrupted, ctx.corruptedMetric, TOL.model, 'corrupted metric');
    expect(out.prompts[1]).toEqual({ clean: ioi.clean[1], corrupt: ioi.corrupt[1], answer: ioi.answers[1], wrong: ioi.wrongs[1], position: 14 });
    expect(Object.keys(out.sweeps)).toEqual(['resid_pre', 'head_out']);
    const resid = out.sweeps.resid_pre;
    expect(Object.keys(resid)).toEqual(['title', 'rows', 'cols', 'rowLabels', 'colLabels', 'values', 'raw']);
    expect([resid.rows, resid.cols, resid.rowLabels]).toEqual([2, 15, ['L0', 'L1']]);
    near(resid.values[0][10], 1, TOL.component, 'cli resid L0 p10');
    near(resid.values[0][3], 0, TOL.component, 'cli resid L0 p3');
    expect(JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')).sweeps.head_out.rows).toBe(2);
    const html = readFileSync(join(dir, 'p.html'), 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toContain('&lt;|endoftext|&gt;');
    expect(html).not.toMatch(/<script|<link|\bsrc=|href=/);
    expect(existsSync(join(dir, 'svg', 'ioi-resid_pre.svg'))).toBe(true);
    expect(readFileSync(join(dir, 'svg', 'ioi-head_out.svg'), 'utf8')).toMatch(/<title>L0, H0: /);
    // The result replays as a --data file.
    const again = await cli(['patch', '--model', FIXTURE_MODEL, '--data', join(dir, 'p.json'), '--kind', 'heads', '--json', '--mode', 'noise']);
    expect(again.code, again.stderr).toBe(0);
    const o2 = JSON.parse(again.stdout);
    expect(o2.mode).toBe('noise');
    near(o2.clean, out.clean, TOL.model, 'replayed clean metric');
  });

  it('permute_lists from a --data file of ids: path patching from 0.0, and the summary', async () => {
    const file = join(dir, 'perm.json');
    writeFileSync(file, JSON.stringify({ prompts: permBatch.clean.map((c, i) => ({ clean: c, corrupt: permBatch.corrupt[i], answer: permBatch.answers[i], wrong: String(permBatch.wrongs[i]) })) }));
    const r = await cli(['patch', '--model', PERMUTE, '--data', file, '--kind', 'path', '--senders', '0.0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out.sweeps)).toEqual(['path_logits', 'path_q', 'path_k', 'path_v']);
    expect(out.sweeps.path_v.values[1][0]).toBeGreaterThan(0.9);
    expect(out.sweeps.path_v.values[0][0]).toBeNull();
    const s = await cli(['patch', '--model', PERMUTE, '--data', file, '--kind', 'path', '--senders', 'a0.h0', '--receivers', 'a1.h0<q>,a1.h0<v>']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/metric\s+logit-diff: clean \d/);
    expect(s.stdout).toMatch(/path: path patching: a0\.h0 -> receivers \[1 x 3\], top cells\n\s+a0\.h0, all\s+0\.9/);
  });

  describe('errors: one line on stderr, exit 1', () => {
    const base = ['patch', '--model', FIXTURE_MODEL, '--kind', 'resid'];
    it('prompts of different lengths', async () => {
      const r = await cli([...base, '--clean', IOI.clean[0], '--corrupt', 'When Mary and John went to the store, Paul Smith gave a drink to', '--answer', ' Mary', '--wrong', ' John']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^circuitscope: patch: prompt 0: the clean prompt "When Mary.*" is 15 tokens but the corrupted prompt ".*Paul Smith.*" is 16 tokens/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
    it('a multi-token answer names the argument', async () => {
      const r = await cli([...base, '--clean', IOI.clean[0], '--corrupt', IOI.corrupt[0], '--answer', ' Mary Ann', '--wrong', ' John']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^circuitscope: patch: --answer " Mary Ann": tokenizer: ' Mary Ann' is 2 tokens .* answers must be single tokens/);
    });
    it('a bad --data file names the field', async () => {
      const file = join(dir, 'bad.json');
      writeFileSync(file, JSON.stringify({ prompts: [{ clean: [52, 1, 2, 3, 51, 0, 1, 2, 50], corrupt: [52, 4, 2, 3, 51, 0, 1, 2, 50], answer: 1, wrong: [4] }] }));
      const r = await cli(['patch', '--model', PERMUTE, '--data', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/prompts\[0\]\.wrong must be a one-token string or a token id/);
    });
  });
});
