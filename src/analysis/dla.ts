/**
 * Direct logit attribution (DLA) and the ablate-one-head experiment, as TransformerLens /
 * ARENA run them for IOI.
 *
 * The final residual at a metric position is a sum of components: the token embedding, the
 * positional embedding (standard positions only; shortformer models never add it), every
 * head's output `a{L}.h{H}` (hook_result: z times its slice of W_O), each MLP's output `m{L}`
 * (with its bias) and `bias` (the attention output biases b_O of all layers). The logit
 * difference along the metric direction u = W_U[:, answer] - W_U[:, wrong] (or W_U[:, answer]
 * when a task has no wrong token) is
 *     LD = sum_c  (c - mean(c)) / s * w_ln . u   +   b_ln . u + b_U . u
 * where s is the final LayerNorm's scale on this run (ln_final.hook_scale) and w_ln, b_ln its
 * weight and bias (centring and s only for LNPre; nothing for models without a final norm).
 * This is TransformerLens' `apply_ln_to_stack` (with the LN weight kept in the direction, since
 * weights here are unprocessed unless --processing folds them): each component is centred and
 * divided by the scale of the *whole* residual. The sum rule is exact: the attributions plus
 * the constant (LN bias and unembedding bias terms) add up to the logit difference of the run.
 * The approximation is in reading one attribution as that component's effect: it freezes s,
 * which would change if the component were removed, and it ignores the component's effect
 * through later layers.
 *
 * The ablate-one-head experiment mean-ablates head h (its z replaced, per position, by its
 * mean over a reference batch: the task's corrupted prompts) and compares
 *   naive  = LD - DLA_h + DLA(mean output of h)   (direct path only, scale frozen at the clean s)
 *   actual = LD of the ablated run.
 * actual - naive is the indirect effect: downstream heads that change what they write, e.g.
 * IOI's backup name movers, which make up for an ablated name mover. The DLA of every component
 * in each ablated run is kept, so the heads that compensate are visible.
 */
import * as tf from '@tensorflow/tfjs';
import { hook } from '../model/hook-names.js';
import type { HookedTransformer, HookSpec } from '../model/transformer.js';
import { headName, type HeadRef } from './heads.js';

export interface DlaBatch {
  /** [N][T] prompts */
  tokens: number[][];
  /** [N][K] metric positions */
  positions: number[][];
  /** [N][K] answer tokens */
  answers: number[][];
  /** [N][K] wrong tokens (the first is used); empty lists make the direction logit(answer) */
  wrong: number[][][];
}

export interface DlaResult {
  /** component names: embed, pos_embed, a{L}.h{H} (layer-major), m{L}, bias */
  components: string[];
  /** mean attribution per component over rows and metric positions */
  values: number[];
  /** the head values as [layer][head] */
  heads: number[][];
  /** MLP values per layer (null for attention-only models) */
  mlps: number[] | null;
  /** LN bias and unembedding bias terms, b_ln . u + b_U . u (mean) */
  constant: number;
  /** sum of values plus constant */
  sum: number;
  /** the metric measured from the run's logits (mean logit(answer) - logit(wrong)) */
  metric: number;
  /** what u is: 'logit(answer) - logit(wrong)' or 'logit(answer)' */
  direction: string;
}

interface RowsOut {
  /** [N][C]: per row, attribution per component (mean over the row's positions) */
  contrib: Float64Array[];
  constant: Float64Array; // [N]
  metric: Float64Array; // [N]
  scale: Float64Array; // [N*K]
}

export function componentNames(model: HookedTransformer): string[] {
  const cfg = model.cfg;
  const names = ['embed'];
  if (cfg.positionalEmbeddingType === 'standard') names.push('pos_embed');
  for (let l = 0; l < cfg.nLayers; l++) for (let h = 0; h < cfg.nHeads; h++) names.push(headName({ layer: l, head: h }));
  if (!cfg.attnOnly) for (let l = 0; l < cfg.nLayers; l++) names.push(`m${l}`);
  names.push('bias');
  return names;
}

function directionLabel(b: DlaBatch): string {
  const hasWrong = b.wrong.map((r) => r.map((w) => w.length > 0));
  const all = hasWrong.every((r) => r.every(Boolean)), none = hasWrong.every((r) => r.every((x) => !x));
  return all ? 'logit(answer) - logit(wrong)' : none ? 'logit(answer)' : 'logit(answer) - logit(wrong), or logit(answer) where a position has no wrong token';
}

function checkBatch(model: HookedTransformer, b: DlaBatch): { N: number; T: number; K: number } {
  const N = b.tokens.length;
  if (N === 0) throw new Error('dla: empty batch');
  const T = b.tokens[0].length, K = b.positions[0]?.length ?? 0;
  if (K === 0) throw new Error('dla: the batch has no metric positions');
  for (const [what, arr] of [['positions', b.positions], ['answers', b.answers], ['wrong', b.wrong]] as const) {
    if (arr.length !== N) throw new Error(`dla: ${what} has ${arr.length} rows but the batch has ${N}`);
  }
  b.tokens.forEach((r, i) => { if (r.length !== T) throw new Error(`dla: prompt ${i} has ${r.length} tokens, prompt 0 has ${T}`); });
  b.positions.forEach((r, i) => {
    if (r.length !== K || b.answers[i].length !== K) throw new Error(`dla: row ${i} needs ${K} positions and answers`);
    for (const p of r) if (!Number.isInteger(p) || p < 0 || p >= T) throw new Error(`dla: metric position ${p} of row ${i} is outside [0, ${T})`);
  });
  for (const id of [...b.answers.flat(), ...b.wrong.flat(2)]) {
    if (!Number.isInteger(id) || id < 0 || id >= model.cfg.dVocabOut) throw new Error(`dla: answer token ${id} is outside the output vocabulary [0, ${model.cfg.dVocabOut})`);
  }
  return { N, T, K };
}

/**
 * Attributions of every component, per row, on `tokens` (rows = `rep` copies of the batch;
 * `extra` hooks, e.g. an ablation, run before the observers). Tensors stay inside; everything
 * the host needs comes back in one read after the forward.
 */
async function dlaRows(model: HookedTransformer, b: DlaBatch, rep: number, extra: HookSpec[]): Promise<RowsOut> {
  const cfg = model.cfg;
  const P = model.params;
  const { N: N0, T, K } = checkBatch(model, b);
  const N = N0 * rep;
  const D = cfg.dModel, H = cfg.nHeads;
  const norm = cfg.normalizationType !== null;
  const comps = componentNames(model);
  const C = comps.length;
  const col = new Map(comps.map((c, i) => [c, i]));
  const rowOf = (n: number) => n % N0;
  // Selection [N, K, T] and direction [N, K, D] (ln weight folded in), constant [N, K].
  const selHost = new Float32Array(N * K * T);
  const ansIds = new Int32Array(N * K), wrongIds = new Int32Array(N * K), hasWrong = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
    const r = rowOf(n);
    selHost[(n * K + k) * T + b.positions[r][k]] = 1;
    ansIds[n * K + k] = b.answers[r][k];
    const w = b.wrong[r][k];
    wrongIds[n * K + k] = w.length > 0 ? w[0] : 0;
    hasWrong[n * K + k] = w.length > 0 ? 1 : 0;
  }
  const parts: { name: string; col: number; m: number; data: tf.Tensor }[] = [];
  let scale: tf.Tensor | null = null;
  const [sel, dir, constant] = tf.tidy(() => {
    const sel = tf.tensor3d(selHost, [N, K, T]);
    const WU = P.WU; // [D, Vout]
    const ua = tf.transpose(tf.gather(WU, tf.tensor1d(ansIds, 'int32'), 1)); // [N*K, D]
    const uw = tf.mul(tf.transpose(tf.gather(WU, tf.tensor1d(wrongIds, 'int32'), 1)), tf.expandDims(tf.tensor1d(hasWrong), 1));
    const u = tf.sub(ua, uw); // [N*K, D]
    const dir = tf.reshape(P.lnfw && norm ? tf.mul(u, P.lnfw) : u, [N, K, D]);
    let c = tf.sub(tf.gather(P.bU, tf.tensor1d(ansIds, 'int32')), tf.mul(tf.gather(P.bU, tf.tensor1d(wrongIds, 'int32')), tf.tensor1d(hasWrong)));
    if (P.lnfb && norm) c = tf.add(c, tf.sum(tf.mul(u, P.lnfb), -1));
    return [sel, dir, tf.reshape(c, [N, K])];
  });
  /** x [N, T, M*D] -> centred projection on the direction at the metric positions [N, K, M] */
  const project = (x: tf.Tensor, m: number): tf.Tensor => tf.tidy(() => {
    let y = tf.reshape(tf.matMul(sel, tf.reshape(x, [N, T, m * D]) as tf.Tensor3D), [N, K, m, D]);
    if (norm) y = tf.sub(y, tf.mean(y, -1, true));
    return tf.sum(tf.mul(y, tf.expandDims(dir, 2)), -1);
  });
  const keep = (name: string, m: number, x: tf.Tensor) => { parts.push({ name, col: col.get(name)!, m, data: tf.keep(project(x, m)) }); };
  const observers: HookSpec[] = [[hook.embed, (x) => { keep('embed', 1, x); }]];
  if (cfg.positionalEmbeddingType === 'standard') observers.push([hook.posEmbed, (x) => { keep('pos_embed', 1, x); }]);
  for (let l = 0; l < cfg.nLayers; l++) {
    observers.push([hook.result(l), (x) => { keep(headName({ layer: l, head: 0 }), H, x); }]);
    if (!cfg.attnOnly) observers.push([hook.mlpOut(l), (x) => { keep(`m${l}`, 1, x); }]);
  }
  if (norm) observers.push([hook.lnFinalScale, (x) => { scale = tf.keep(tf.reshape(tf.matMul(sel, x as tf.Tensor3D), [N, K])); }]);
  const tokens = rep === 1 ? b.tokens : Array.from({ length: rep }, () => b.tokens).flat();
  let metric: tf.Tensor | null = null;
  try {
    metric = tf.tidy(() => {
      const logits = model.runWithHooks(tokens, [...extra, ...observers]); // [N, T, V]
      const V = logits.shape[2];
      const flat = tf.reshape(tf.matMul(sel, logits), [-1]); // [N*K*V]
      const at = (ids: Int32Array) => tf.gather(flat, tf.tensor1d(ids.map((id, i) => i * V + id), 'int32'));
      const d = tf.sub(at(ansIds), tf.mul(at(wrongIds), tf.tensor1d(hasWrong)));
      return tf.reshape(d, [N, K]);
    });
    // The summed output bias b_O of every layer, the same at every position.
    const biasProj = tf.tidy(() => {
      const bO = P.layers.reduce((acc: tf.Tensor, L) => tf.add(acc, L.bO), tf.zeros([D]));
      return project(tf.broadcastTo(bO, [N, T, D]), 1);
    });
    parts.push({ name: 'bias', col: col.get('bias')!, m: 1, data: biasProj });
    // One read: every part [N, K, m], then the scale [N, K] (LN models), the constant and the metric [N, K].
    const scaleT = scale as tf.Tensor | null;
    const pieces = [...parts.map((p) => p.data), ...(scaleT ? [scaleT] : []), constant, metric];
    const flat = tf.tidy(() => tf.concat(pieces.map((t) => tf.reshape(t, [-1]))));
    let host: Float32Array;
    try {
      host = (await flat.data()) as Float32Array;
    } finally {
      flat.dispose();
    }
    let at = 0;
    const next = (size: number) => { const v = host.subarray(at, at + size); at += size; return v; };
    const partHost = parts.map((p) => next(N * K * p.m));
    const s = scaleT ? next(N * K) : null;
    const constHost = next(N * K), metricHost = next(N * K);
    const contrib = Array.from({ length: N }, () => new Float64Array(C));
    parts.forEach((p, i) => {
      const v = partHost[i]; // [N, K, m]
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let j = 0; j < p.m; j++) {
        contrib[n][p.col + j] += v[(n * K + k) * p.m + j] / (s ? s[n * K + k] : 1) / K;
      }
    });
    const mean = (v: Float32Array) => { const out = new Float64Array(N); for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) out[n] += v[n * K + k] / K; return out; };
    return { contrib, constant: mean(constHost), metric: mean(metricHost), scale: s ? Float64Array.from(s) : new Float64Array(N * K).fill(1) };
  } finally {
    for (const p of parts) p.data.dispose();
    (scale as tf.Tensor | null)?.dispose();
    metric?.dispose();
    tf.dispose([sel, dir, constant]);
  }
}

function summarise(model: HookedTransformer, b: DlaBatch, rows: RowsOut, from: number, count: number): DlaResult {
  const cfg = model.cfg;
  const comps = componentNames(model);
  const values = comps.map((_, c) => { let s = 0; for (let n = from; n < from + count; n++) s += rows.contrib[n][c]; return s / count; });
  const avg = (a: Float64Array) => { let s = 0; for (let n = from; n < from + count; n++) s += a[n]; return s / count; };
  const constant = avg(rows.constant), metric = avg(rows.metric);
  const idx = new Map(comps.map((c, i) => [c, i]));
  const heads = Array.from({ length: cfg.nLayers }, (_, l) => Array.from({ length: cfg.nHeads }, (_, h) => values[idx.get(headName({ layer: l, head: h }))!]));
  const mlps = cfg.attnOnly ? null : Array.from({ length: cfg.nLayers }, (_, l) => values[idx.get(`m${l}`)!]);
  return { components: comps, values, heads, mlps, constant, sum: values.reduce((a, x) => a + x, 0) + constant, metric, direction: directionLabel(b) };
}

/** DLA of every component on the batch (optionally under extra hooks, e.g. an ablation). */
export async function directLogitAttribution(model: HookedTransformer, b: DlaBatch, opts: { hooks?: HookSpec[] } = {}): Promise<DlaResult> {
  const rows = await dlaRows(model, b, 1, opts.hooks ?? []);
  return summarise(model, b, rows, 0, b.tokens.length);
}

/** Per-layer mean of z over the reference prompts, per position: [T, H, Dh] each. The caller disposes. */
export function meanZ(model: HookedTransformer, reference: number[][]): tf.Tensor3D[] {
  if (reference.length === 0) throw new Error('dla: empty mean-ablation reference batch');
  const out: tf.Tensor3D[] = [];
  const hooks: HookSpec[] = Array.from({ length: model.cfg.nLayers }, (_, l) => [hook.z(l), (z: tf.Tensor) => { out[l] = tf.keep(tf.mean(z, 0)) as tf.Tensor3D; }]);
  try {
    tf.dispose(model.runWithHooks(reference, hooks));
  } catch (e) {
    tf.dispose(out);
    throw e;
  }
  return out;
}

export interface HeadAblation {
  head: string;
  layer: number;
  index: number;
  /** the head's DLA in the clean run */
  direct: number;
  /** the DLA of its mean output, with the clean LN scale */
  meanDirect: number;
  /** LD - direct + meanDirect */
  naive: number;
  /** LD of the run with the head mean-ablated */
  actual: number;
  /** actual - naive: the effect through later components */
  indirect: number;
  /** DLA of every component in the ablated run */
  dla: DlaResult;
}

export interface AblationExperiment {
  clean: DlaResult;
  ablations: HeadAblation[];
  /** how the mean was taken */
  reference: string;
}

/**
 * The ablate-one-head experiment for each head in `heads`: mean-ablate it (z replaced per
 * position by its mean over `reference`), and compare the naive direct-path prediction with
 * the actual logit difference. Several ablations run in one batched forward (each copy of the
 * batch ablates its own head); `maxTokens` bounds a forward's batch x positions. One read per
 * forward, and one for the naive predictions of all heads.
 */
export async function ablateHeads(model: HookedTransformer, b: DlaBatch, heads: readonly HeadRef[], reference: number[][], opts: { maxTokens?: number; referenceLabel?: string } = {}): Promise<AblationExperiment> {
  const cfg = model.cfg;
  const { N, T } = checkBatch(model, b);
  if (reference.some((r) => r.length !== T)) throw new Error(`dla: the mean-ablation reference prompts must have ${T} tokens, like the batch`);
  for (const h of heads) if (h.layer >= cfg.nLayers || h.head >= cfg.nHeads) throw new Error(`dla: head ${headName(h)} does not exist (model: ${cfg.nLayers} layers x ${cfg.nHeads} heads)`);
  const clean = await dlaRows(model, b, 1, []);
  const cleanRes = summarise(model, b, clean, 0, N);
  const means = meanZ(model, reference);
  try {
    // Naive prediction: the DLA of the head's mean output under the clean scale.
    const compIdx = new Map(cleanRes.components.map((c, i) => [c, i]));
    const meanDirect = await meanOutputDla(model, b, clean, means, heads);
    const out: HeadAblation[] = [];
    const per = Math.max(1, Math.floor((opts.maxTokens ?? 8192) / (N * T)));
    for (let g0 = 0; g0 < heads.length; g0 += per) {
      const group = heads.slice(g0, g0 + per);
      const G = group.length;
      const hooks: HookSpec[] = [];
      for (let l = 0; l < cfg.nLayers; l++) {
        const mask = new Float32Array(G * N * cfg.nHeads);
        let any = false;
        group.forEach((h, g) => { if (h.layer === l) { any = true; for (let n = 0; n < N; n++) mask[(g * N + n) * cfg.nHeads + h.head] = 1; } });
        if (!any) continue;
        hooks.push([hook.z(l), (z: tf.Tensor) => {
          const m = tf.tensor4d(mask, [G * N, 1, cfg.nHeads, 1]);
          return tf.add(tf.mul(z, tf.sub(1, m)), tf.mul(tf.expandDims(means[l], 0), m));
        }]);
      }
      const rows = await dlaRows(model, b, G, hooks);
      group.forEach((h, g) => {
        const dla = summarise(model, b, rows, g * N, N);
        const direct = cleanRes.values[compIdx.get(headName(h))!];
        const md = meanDirect[g0 + g];
        const naive = cleanRes.metric - direct + md;
        out.push({ head: headName(h), layer: h.layer, index: h.head, direct, meanDirect: md, naive, actual: dla.metric, indirect: dla.metric - naive, dla });
      });
    }
    return { clean: cleanRes, ablations: out, reference: opts.referenceLabel ?? `mean over ${reference.length} reference prompts, per position` };
  } finally {
    tf.dispose(means);
  }
}

/**
 * Per head: the DLA (mean over rows) of its mean-ablated output, divided by the clean run's LN
 * scale. `means` is meanZ's per-layer [T, H, Dh]; one read for all heads.
 */
async function meanOutputDla(model: HookedTransformer, b: DlaBatch, clean: RowsOut, means: readonly tf.Tensor3D[], heads: readonly HeadRef[]): Promise<number[]> {
  if (heads.length === 0) return [];
  const cfg = model.cfg, P = model.params;
  const N = b.tokens.length, K = b.positions[0].length;
  const norm = cfg.normalizationType !== null;
  const one = (h: HeadRef) => {
    const mz = means[h.layer];
    const z = tf.squeeze(tf.slice(mz, [0, h.head, 0], [-1, 1, -1]), [1]); // [T, Dh]
    const wo = tf.squeeze(tf.slice(P.layers[h.layer].WO, [h.head, 0, 0], [1, -1, -1]), [0]) as tf.Tensor2D; // [Dh, D]
    let r = tf.matMul(z as tf.Tensor2D, wo); // [T, D]
    if (norm) r = tf.sub(r, tf.mean(r, -1, true));
    const ids: number[] = [], wids: number[] = [], hw: number[] = [], pos: number[] = [];
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      pos.push(b.positions[n][k]); ids.push(b.answers[n][k]);
      const w = b.wrong[n][k]; wids.push(w.length > 0 ? w[0] : 0); hw.push(w.length > 0 ? 1 : 0);
    }
    const x = tf.gather(r, tf.tensor1d(pos, 'int32')); // [N*K, D]
    const ua = tf.transpose(tf.gather(P.WU, tf.tensor1d(ids, 'int32'), 1));
    const uw = tf.mul(tf.transpose(tf.gather(P.WU, tf.tensor1d(wids, 'int32'), 1)), tf.expandDims(tf.tensor1d(hw), 1));
    let u = tf.sub(ua, uw);
    if (P.lnfw && norm) u = tf.mul(u, P.lnfw);
    return tf.sum(tf.mul(x, u), -1); // [N*K]
  };
  const v = tf.tidy(() => tf.stack(heads.map(one))); // [heads, N*K]
  let d: Float32Array;
  try {
    d = (await v.data()) as Float32Array;
  } finally {
    v.dispose();
  }
  return heads.map((_, j) => {
    let s = 0;
    for (let i = 0; i < N * K; i++) s += d[j * N * K + i] / clean.scale[i];
    return s / (N * K);
  });
}
