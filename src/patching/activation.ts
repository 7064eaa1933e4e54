/**
 * Activation and path patching in the TransformerLens style (`transformer_lens.patching`;
 * Heimersheim & Nanda, "How to use and interpret activation patching", 2024), as pure
 * functions over a HookedTransformer and a clean / corrupted batch.
 *
 * Direction (`mode`):
 * - `denoise` (default): run the CORRUPTED batch and patch in activations from the CLEAN run.
 *   A cell that restores the behaviour is sufficient for it (given the rest of the corrupted run).
 * - `noise`: run the CLEAN batch and patch in activations from the CORRUPTED run. A cell that
 *   destroys the behaviour is necessary for it.
 *
 * Metric: the logit difference `ld = mean_b ( logit[b, pos_b, answer_b] - logit[b, pos_b, wrong_b] )`
 * at one metric position per row (default: the last). Every sweep reports it normalised the
 * same way in both modes:
 *
 *     normalised = (ld_patched - ld_corrupted) / (ld_clean - ld_corrupted)
 *
 * so 1 = clean behaviour and 0 = corrupted behaviour. An unpatched denoising run scores 0 (look
 * for cells near 1); an unpatched noising run scores 1 (look for cells near 0). `raw` keeps
 * `ld_patched` itself.
 *
 * Sweeps (each a matrix with row / column labels):
 * - `resid_pre` [nLayers, T]: `blocks.L.hook_resid_pre` at one position (all rows of the batch).
 * - `head_out` [nLayers, nHeads]: one head's `hook_z` at every position (its output, since z
 *   times W_O is what it writes; TransformerLens `get_act_patch_attn_head_out_all_pos`).
 * - `head_q`, `head_k`, `head_v`, `head_pattern` [nLayers, nHeads]: one head's `hook_q/k/v`
 *   (every position) or `hook_pattern`.
 * - `path_logits` [nLayers, nHeads]: path patching from each head straight to the logits.
 * - `path_q/k/v` [nLayers, nHeads] (senders given): the sender set's direct paths into each
 *   receiver head's query / key / value input.
 * - `path_to_receivers` [nLayers, nHeads] (receivers given): each head's direct paths into the
 *   receiver set, jointly (the IOI paper's "path patching to the name movers' queries").
 * - `path` [1, |receivers| + 1] (both given): the sender set into each receiver, then into all.
 *
 * Activation sweeps run many patches per forward: the base batch is tiled once per patch and
 * each hook blends `x * (1 - m) + source * m` with a 0/1 mask m per tile (exact in floating
 * point). Path patching is edge patching on the PatchingEngine: the circuit is every edge
 * except the patched sender -> receiver edges, which read the source run (resample ablation
 * whose "corrupted" batch is the source). Removing only the direct edges leaves every other
 * path from a sender at its base value, which is what path patching (Wang et al. 2022) means;
 * the receivers' change then propagates downstream as usual.
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer, HookSpec } from '../model/transformer.js';
import { hook } from '../model/hook-names.js';
import { tokenizerFor } from '../model/tokenizer.js';
import { PatchingEngine } from './engine.js';
import { buildLayout, type PatchLayout } from '../graph/layout.js';
import type { TaskBatch } from '../tasks/types.js';

export type PatchMode = 'denoise' | 'noise';
export const PATCH_MODES: readonly PatchMode[] = ['denoise', 'noise'];
export const METRIC_NAME = 'logit-diff';

/** Clean and corrupted prompts as token ids, the answer and wrong-answer id per row. */
export interface PatchBatch {
  clean: number[][];
  corrupt: number[][];
  answers: number[];
  wrongs: number[];
  /** the position the metric reads, per row; default the last (T - 1) */
  positions?: number[];
}

/**
 * A task's batch as a patching batch: its first metric position, answer and wrong token per
 * row (activation patching scores one logit difference per row).
 */
export function patchBatchFromTask(b: TaskBatch): PatchBatch {
  b.positions.forEach((p, i) => {
    if (p.length !== 1 || b.answers[i].length !== 1 || (b.wrong[i][0]?.length ?? 0) < 1) {
      fail(`row ${i} of the task batch has ${p.length} metric positions; activation patching needs exactly one position, answer and wrong token per row`);
    }
  });
  return { clean: b.clean, corrupt: b.corrupt, answers: b.answers.map((a) => a[0]), wrongs: b.wrong.map((w) => w[0][0]), positions: b.positions.map((p) => p[0]) };
}

/** A validated batch with its baseline metrics. Holds no tensors. */
export interface PatchContext {
  readonly model: HookedTransformer;
  readonly mode: PatchMode;
  readonly B: number;
  readonly T: number;
  readonly clean: number[][];
  readonly corrupt: number[][];
  readonly answers: number[];
  readonly wrongs: number[];
  readonly positions: number[];
  /** the tokens that run (corrupted when denoising, clean when noising) */
  readonly base: number[][];
  /** the tokens whose activations are patched in */
  readonly source: number[][];
  /** logit difference of the clean and corrupted runs */
  readonly cleanMetric: number;
  readonly corruptedMetric: number;
}

/** One matrix of results. `values` are normalised, `raw` the logit differences; null = no such cell. */
export interface Sweep {
  name: string;
  title: string;
  rows: number;
  cols: number;
  rowLabels: string[];
  colLabels: string[];
  values: (number | null)[][];
  raw: (number | null)[][];
}

export interface SweepOptions {
  /** rows per batched forward (patches x batch rows); default from the model's size */
  maxRows?: number;
  /**
   * Skip activation patches whose source values equal the base run's bit for bit (e.g. every
   * position before the first token where the prompts differ): they cannot change the run, so
   * they score the unpatched metric without a forward. Default true.
   */
  skipIdentical?: boolean;
}

function fail(msg: string): never {
  throw new Error(`patch: ${msg}`);
}

/** Validate the batch and compute the clean and corrupted metrics (one read for both). */
export async function preparePatching(model: HookedTransformer, batch: PatchBatch, mode: PatchMode = 'denoise'): Promise<PatchContext> {
  const cfg = model.cfg;
  if (!PATCH_MODES.includes(mode)) fail(`mode must be one of ${PATCH_MODES.join(', ')}, got '${String(mode)}'`);
  const { clean, corrupt, answers, wrongs } = batch;
  const B = clean.length;
  if (B === 0) fail('no prompts given');
  if (corrupt.length !== B) fail(`${B} clean prompts but ${corrupt.length} corrupted prompts; give one corrupted prompt per clean prompt`);
  if (answers.length !== B) fail(`${B} prompts but ${answers.length} answers; give one answer per prompt`);
  if (wrongs.length !== B) fail(`${B} prompts but ${wrongs.length} wrong answers; give one wrong answer per prompt`);
  const T = clean[0].length;
  for (let i = 0; i < B; i++) {
    if (clean[i].length !== corrupt[i].length) {
      fail(`prompt ${i}: the clean prompt is ${clean[i].length} tokens but the corrupted prompt is ${corrupt[i].length}; they must tokenise to the same length`);
    }
    if (clean[i].length !== T) fail(`prompt ${i} is ${clean[i].length} tokens but prompt 0 is ${T}; every prompt of a batch must have the same length`);
  }
  if (T === 0) fail('the prompts are empty');
  if (T > cfg.nCtx) fail(`the prompts are ${T} tokens, longer than the model's context nCtx=${cfg.nCtx}`);
  const checkId = (what: string, i: number, id: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= cfg.dVocabOut) fail(`prompt ${i}: ${what} id ${id} is outside the model's output vocabulary [0, ${cfg.dVocabOut})`);
  };
  answers.forEach((a, i) => checkId('answer', i, a));
  wrongs.forEach((w, i) => checkId('wrong-answer', i, w));
  const positions = batch.positions ? [...batch.positions] : clean.map(() => T - 1);
  if (positions.length !== B) fail(`${B} prompts but ${positions.length} metric positions`);
  positions.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 0 || p >= T) fail(`prompt ${i}: metric position ${p} is outside [0, ${T})`);
  });
  // Token ids are validated by the model (toTokenTensor) on the first forward.
  // Each forward in its own tidy (one vocabulary-sized logits tensor at a time), one read for both.
  const measure = (tokens: number[][]) => tf.tidy(() => logitDiffGroups(model.forward(tokens), 1, B, T, positions, answers, wrongs));
  const parts: tf.Tensor[] = [];
  let both: tf.Tensor;
  try {
    parts.push(measure(clean));
    parts.push(measure(corrupt));
    both = tf.concat(parts);
  } finally {
    tf.dispose(parts);
  }
  const [cleanMetric, corruptedMetric] = await readAndDispose(both);
  if (Number.isNaN(cleanMetric)) fail(`metric ${METRIC_NAME} is NaN on the clean run (the model's logits hold NaN)`);
  if (Number.isNaN(corruptedMetric)) fail(`metric ${METRIC_NAME} is NaN on the corrupted run (the model's logits hold NaN)`);
  if (cleanMetric === corruptedMetric) {
    fail(`metric ${METRIC_NAME} is ${cleanMetric} on both the clean and the corrupted run, so the normalised metric (patched - corrupted) / (clean - corrupted) is undefined; choose prompts the model answers differently`);
  }
  const [base, source] = mode === 'denoise' ? [corrupt, clean] : [clean, corrupt];
  return { model, mode, B, T, clean, corrupt, answers, wrongs, positions, base, source, cleanMetric, corruptedMetric };
}

/** The values of a tensor, read once (`await data()`), then the tensor is disposed. */
async function readAndDispose(t: tf.Tensor): Promise<number[]> {
  try {
    return Array.from((await t.data()) as Float32Array);
  } finally {
    t.dispose();
  }
}

/** (raw - corrupted) / (clean - corrupted). */
export function normalise(ctx: PatchContext, raw: number): number {
  return (raw - ctx.corruptedMetric) / (ctx.cleanMetric - ctx.corruptedMetric);
}

/**
 * Logit difference per group: logits [n*B, T, V] (group-major rows) -> [n], the mean over each
 * group's B rows of logit[answer] - logit[wrong] at the row's metric position.
 */
function logitDiffGroups(logits: tf.Tensor, n: number, B: number, T: number, positions: number[], answers: number[], wrongs: number[]): tf.Tensor1D {
  const V = logits.shape[logits.rank - 1];
  const ia = new Int32Array(n * B), iw = new Int32Array(n * B);
  for (let g = 0; g < n; g++) for (let b = 0; b < B; b++) {
    const r = g * B + b;
    const at = (r * T + positions[b]) * V;
    ia[r] = at + answers[b];
    iw[r] = at + wrongs[b];
  }
  const flat = tf.reshape(logits, [-1]);
  const d = tf.sub(tf.gather(flat, tf.tensor1d(ia, 'int32')), tf.gather(flat, tf.tensor1d(iw, 'int32')));
  return tf.mean(tf.reshape(d, [n, B]), 1) as tf.Tensor1D;
}

/** One activation patch: replace `hook`'s activation (along `axis` at `index`, or all of it) by the source run's. */
export interface ActPatch {
  hook: string;
  /** axis of the activation, batch axis = 0 (resid [B,T,D]: 1 = position; z/q/k/v [B,T,H,Dh]: 2 = head; pattern [B,H,Tq,Tk]: 1 = head) */
  axis?: number;
  index?: number;
}

function defaultMaxRows(ctx: PatchContext): number {
  const cfg = ctx.model.cfg;
  // Bound the largest per-forward tensors (the logits, MLP hidden, attention pattern) at ~2^25 floats.
  const perRow = ctx.T * Math.max(cfg.dVocabOut, cfg.dMlp ?? 0, 4 * cfg.dModel, cfg.nHeads * ctx.T);
  return Math.max(ctx.B, Math.floor(2 ** 25 / perRow));
}

/** Which elements of one batch row's activation (shape without the batch axis, flattened) a patch covers. */
function selector(p: ActPatch, shape: readonly number[]): (j: number) => boolean {
  if (p.axis === undefined) return () => true;
  if (!Number.isInteger(p.axis) || p.axis < 1 || p.axis >= shape.length) fail(`patch on '${p.hook}': axis ${p.axis} is not an axis of its [${shape.join(', ')}] activation (batch axis 0 excluded)`);
  const dim = shape[p.axis];
  const idx = p.index ?? -1;
  if (!Number.isInteger(idx) || idx < 0 || idx >= dim) fail(`patch on '${p.hook}': index ${p.index} is outside [0, ${dim}) on axis ${p.axis}`);
  const stride = shape.slice(p.axis + 1).reduce((a, b) => a * b, 1);
  return (j) => Math.floor(j / stride) % dim === idx;
}

/**
 * Raw metric (logit difference) of each variant; a variant is a list of patches applied
 * together. Variants run batched: `maxRows / B` of them per forward, one read per forward.
 */
export async function runActivationPatches(ctx: PatchContext, variants: ActPatch[][], opts: SweepOptions = {}): Promise<number[]> {
  if (variants.length === 0) return [];
  const names = [...new Set(variants.flat().map((p) => p.hook))];
  const { logits, cache } = ctx.model.runWithCache(ctx.source, { names });
  logits.dispose();
  try {
    for (const n of names) if (!cache.has(n)) fail(`no activation named '${n}' in this model`);
    const sels = variants.map((v) => v.map((p) => selector(p, cache.get(p.hook).shape)));
    let todo = variants.map((_, i) => i);
    const out = new Array<number>(variants.length).fill(ctx.mode === 'denoise' ? ctx.corruptedMetric : ctx.cleanMetric);
    if (opts.skipIdentical ?? true) {
      const base = ctx.model.runWithCache(ctx.base, { names });
      base.logits.dispose();
      // Source and base activations of every hook in one read: [src_0, base_0, src_1, base_1, ...].
      const flat = tf.tidy(() => tf.concat(names.flatMap((n) => [tf.reshape(cache.get(n), [-1]), tf.reshape(base.cache.get(n), [-1])])));
      base.cache.dispose();
      let host: Float32Array;
      try {
        host = (await flat.data()) as Float32Array;
      } finally {
        flat.dispose();
      }
      const srcHost = new Map<string, Float32Array>(), baseHost = new Map<string, Float32Array>();
      let at = 0;
      for (const n of names) {
        const size = cache.get(n).size;
        srcHost.set(n, host.subarray(at, at + size));
        baseHost.set(n, host.subarray(at + size, at + 2 * size));
        at += 2 * size;
      }
      const same = (p: ActPatch, sel: (j: number) => boolean) => {
        const a = srcHost.get(p.hook)!, b = baseHost.get(p.hook)!;
        const size = a.length / ctx.B;
        for (let j = 0; j < size; j++) {
          if (!sel(j)) continue;
          for (let r = 0; r < ctx.B; r++) if (a[r * size + j] !== b[r * size + j]) return false;
        }
        return true;
      };
      todo = todo.filter((i) => !variants[i].every((p, k) => same(p, sels[i][k])));
    }
    const per = Math.max(1, Math.floor((opts.maxRows ?? defaultMaxRows(ctx)) / ctx.B));
    for (let i = 0; i < todo.length; i += per) {
      const idx = todo.slice(i, i + per);
      const vals = await runChunk(ctx, cache.tensors, idx.map((k) => variants[k]), idx.map((k) => sels[k]));
      idx.forEach((k, j) => { out[k] = vals[j]; });
    }
    return out;
  } finally {
    cache.dispose();
  }
}

async function runChunk(ctx: PatchContext, source: Map<string, tf.Tensor>, chunk: ActPatch[][], sels: ((j: number) => boolean)[][]): Promise<number[]> {
  const n = chunk.length;
  const { B, T } = ctx;
  const hostMasks = new Map<string, Float32Array>();
  chunk.forEach((variant, g) => {
    variant.forEach((p, k) => {
      const size = source.get(p.hook)!.size / B;
      let m = hostMasks.get(p.hook);
      if (!m) { m = new Float32Array(n * size); hostMasks.set(p.hook, m); }
      const sel = sels[g][k];
      for (let j = 0; j < size; j++) if (sel(j)) m[g * size + j] = 1;
    });
  });
  const held: tf.Tensor[] = [];
  let metric: tf.Tensor;
  try {
    const hooks: HookSpec[] = [];
    for (const [name, data] of hostMasks) {
      const src = source.get(name)!;
      const rest = src.shape.slice(1);
      const m = tf.tensor(data, [n, 1, ...rest]);
      const inv = tf.sub(1, m);
      const s = tf.expandDims(src, 0);
      held.push(m, inv, s);
      hooks.push([name, (x: tf.Tensor) => tf.reshape(tf.add(tf.mul(tf.reshape(x, [n, B, ...rest]), inv), tf.mul(s, m)), x.shape)]);
    }
    const tiled: number[][] = [];
    for (let g = 0; g < n; g++) for (const row of ctx.base) tiled.push(row);
    metric = tf.tidy(() => logitDiffGroups(ctx.model.runWithHooks(tiled, hooks), n, B, T, ctx.positions, ctx.answers, ctx.wrongs));
  } finally {
    tf.dispose(held);
  }
  return readAndDispose(metric);
}

const layerLabels = (n: number) => Array.from({ length: n }, (_, l) => `L${l}`);
const headLabels = (n: number) => Array.from({ length: n }, (_, h) => `H${h}`);

/** Build a sweep from raw metrics laid out row-major (null = no such cell). */
function makeSweep(ctx: PatchContext, name: string, title: string, rowLabels: string[], colLabels: string[], raw: (number | null)[]): Sweep {
  const rows = rowLabels.length, cols = colLabels.length;
  const r2: (number | null)[][] = [], v2: (number | null)[][] = [];
  for (let i = 0; i < rows; i++) {
    r2.push(raw.slice(i * cols, (i + 1) * cols));
    v2.push(r2[i].map((x) => (x === null ? null : normalise(ctx, x))));
  }
  raw.forEach((x, i) => {
    if (x !== null && Number.isNaN(x)) fail(`metric ${METRIC_NAME} is NaN in sweep ${name} at ${rowLabels[Math.floor(i / cols)]}, ${colLabels[i % cols]}`);
  });
  return { name, title, rows, cols, rowLabels, colLabels, values: v2, raw: r2 };
}

/**
 * Axis labels for positions, from the first prompt: `"{i} {token}"`, or `"{i} {clean}/{corrupt}"`
 * where the two prompts differ.
 */
export function positionLabels(ctx: PatchContext): string[] {
  const tok = tokenizerFor(ctx.model.cfg);
  const str = (id: number) => {
    try { return tok.idToString(id); } catch { return String(id); }
  };
  return ctx.clean[0].map((c, i) => {
    const k = ctx.corrupt[0][i];
    return c === k ? `${i} ${str(c)}` : `${i} ${str(c)}/${str(k)}`;
  });
}

/** `resid_pre` patched at one layer and position: [nLayers, T]. */
export async function residPreSweep(ctx: PatchContext, opts: SweepOptions = {}): Promise<Sweep> {
  const { nLayers } = ctx.model.cfg;
  const variants: ActPatch[][] = [];
  for (let l = 0; l < nLayers; l++) for (let p = 0; p < ctx.T; p++) variants.push([{ hook: hook.residPre(l), axis: 1, index: p }]);
  return makeSweep(ctx, 'resid_pre', 'resid_pre by layer and position', layerLabels(nLayers), positionLabels(ctx), await runActivationPatches(ctx, variants, opts));
}

export type HeadActivation = 'out' | 'q' | 'k' | 'v' | 'pattern';

/** One head's activation patched (every position): [nLayers, nHeads]. `out` patches hook_z. */
export async function headSweep(ctx: PatchContext, which: HeadActivation, opts: SweepOptions = {}): Promise<Sweep> {
  const { nLayers, nHeads } = ctx.model.cfg;
  const name = { out: hook.z, q: hook.q, k: hook.k, v: hook.v, pattern: hook.pattern }[which];
  const axis = which === 'pattern' ? 1 : 2;
  const variants: ActPatch[][] = [];
  for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) variants.push([{ hook: name(l), axis, index: h }]);
  const title = which === 'out' ? 'head output (z), all positions' : which === 'pattern' ? 'head attention pattern' : `head ${which}, all positions`;
  return makeSweep(ctx, `head_${which}`, title, layerLabels(nLayers), headLabels(nHeads), await runActivationPatches(ctx, variants, opts));
}

// ---------------------------------------------------------------------------------------------
// Path patching on the edge-masked engine

/** `9.6` or `a9.h6` -> `a9.h6`; `m3`, `input` pass through. Checked against the layout. */
export function parseSender(spec: string, layout: PatchLayout): string {
  const s = spec.trim();
  const m = /^(\d+)\.(\d+)$/.exec(s);
  const name = m ? `a${m[1]}.h${m[2]}` : s;
  if (!layout.senderIndex.has(name)) fail(`sender '${spec}' is not a sender of this model (expected L.H or aL.hH, e.g. 0.1 or a0.h1, an MLP mL, or input)`);
  return name;
}

export interface ReceiverGroup { label: string; receivers: string[] }

/**
 * `a10.h7<q>`, `a10.h7.q`, `10.7<q>` -> one receiver; `a10.h7` or `10.7` -> its q, k and v
 * inputs together; `m3`, `logits` as they are.
 */
export function parseReceiver(spec: string, layout: PatchLayout): ReceiverGroup {
  const s = spec.trim();
  const m = /^a?(\d+)\.h?(\d+)(?:<([qkv])>|\.([qkv]))?$/.exec(s);
  let receivers: string[];
  if (m) {
    const head = `a${m[1]}.h${m[2]}`;
    const x = m[3] ?? m[4];
    receivers = x ? [`${head}<${x}>`] : ['q', 'k', 'v'].map((y) => `${head}<${y}>`);
  } else receivers = [s];
  for (const r of receivers) {
    if (!layout.receiverIndex.has(r)) fail(`receiver '${spec}' is not a receiver of this model (expected aL.hH<q|k|v>, aL.hH for all three, L.H, an MLP mL, or logits)`);
  }
  return { label: s, receivers };
}

/** Edges that exist from any sender to any receiver. */
function edgesBetween(layout: PatchLayout, senders: readonly string[], receivers: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of receivers) for (const s of senders) {
    if (layout.hasEdge(layout.senderIndex.get(s)!, layout.receiverIndex.get(r)!)) out.push(`${s}->${r}`);
  }
  return out;
}

/**
 * A PatchingEngine that runs the base batch with the source batch as its resample ablation,
 * scoring at the metric positions. The caller disposes it.
 */
export function pathEngine(ctx: PatchContext): PatchingEngine {
  return new PatchingEngine(ctx.model, ctx.base, { kind: 'resample', corrupt: ctx.source }, { positions: ctx.positions.map((p) => [p]) });
}

/**
 * Raw metric when exactly the given edges (`sender->receiver`) read the source run and every
 * other edge the base run, for each edge set. Sets sharing their earliest receiver layer reuse
 * one cached prefix of the forward. One read per batched forward.
 */
export async function runPathPatches(ctx: PatchContext, edgeSets: string[][], opts: SweepOptions & { engine?: PatchingEngine } = {}): Promise<number[]> {
  if (edgeSets.length === 0) return [];
  const engine = opts.engine ?? pathEngine(ctx);
  try {
    const layout = engine.layout;
    const S = layout.senders.length;
    const full = engine.fullMask();
    const items = edgeSets.map((edges, i) => {
      const mask = full.slice();
      let firstRow = Infinity;
      for (const key of edges) {
        const at = key.indexOf('->');
        const s = layout.senderIndex.get(key.slice(0, at)), r = layout.receiverIndex.get(key.slice(at + 2));
        if (at < 0 || s === undefined || r === undefined || !layout.hasEdge(s, r)) fail(`'${key}' is not an edge of this model's graph`);
        mask[r * S + s] = 0;
        firstRow = Math.min(firstRow, r);
      }
      return { i, mask, stage: firstRow === Infinity ? 2 * ctx.model.cfg.nLayers : engine.stageOfRow(firstRow) };
    });
    const out = new Array<number>(edgeSets.length);
    const byStage = new Map<number, typeof items>();
    for (const it of items) { const g = byStage.get(it.stage) ?? []; g.push(it); byStage.set(it.stage, g); }
    const cfg = ctx.model.cfg;
    // Chunk so the per-layer sender deltas [C, H, B*T*D] stay near 2^25 floats.
    const per = Math.max(1, Math.min(
      Math.floor((opts.maxRows ?? 1e9) / ctx.B),
      Math.floor(2 ** 25 / (ctx.B * ctx.T * cfg.dModel * Math.max(cfg.nHeads, 2))),
    ));
    for (const [stage, group] of byStage) {
      const prefix = stage > 0 ? engine.prefix(full, stage) : null;
      try {
        for (let j = 0; j < group.length; j += per) {
          const part = group.slice(j, j + per);
          const metric = tf.tidy(() => {
            const logits = engine.run(part.map((p) => p.mask), prefix ? { from: prefix } : {}); // [C, B, 1, V]
            return logitDiffGroups(logits, part.length, ctx.B, 1, ctx.positions.map(() => 0), ctx.answers, ctx.wrongs);
          });
          const v = await readAndDispose(metric);
          part.forEach((p, k) => { out[p.i] = v[k]; });
        }
      } finally {
        prefix?.dispose();
      }
    }
    return out;
  } finally {
    if (!opts.engine) engine.dispose();
  }
}

/** Run the edge sets that are non-empty; null for the empty ones. */
async function runSparse(ctx: PatchContext, sets: string[][], opts: SweepOptions & { engine?: PatchingEngine }): Promise<(number | null)[]> {
  const live = sets.map((s, i) => [s, i] as const).filter(([s]) => s.length > 0);
  const vals = await runPathPatches(ctx, live.map(([s]) => s), opts);
  const out: (number | null)[] = sets.map(() => null);
  live.forEach(([, i], k) => { out[i] = vals[k]; });
  return out;
}

function layoutOf(ctx: PatchContext, opts: { engine?: PatchingEngine }): PatchLayout {
  return opts.engine?.layout ?? buildLayout(ctx.model.cfg);
}

/** Path patching from each head straight to the logits: [nLayers, nHeads]. */
export async function pathToLogitsSweep(ctx: PatchContext, opts: SweepOptions & { engine?: PatchingEngine } = {}): Promise<Sweep> {
  const { nLayers, nHeads } = ctx.model.cfg;
  const sets: string[][] = [];
  for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) sets.push([`a${l}.h${h}->logits`]);
  return makeSweep(ctx, 'path_logits', 'path patching: head -> logits', layerLabels(nLayers), headLabels(nHeads), await runPathPatches(ctx, sets, opts));
}

/**
 * Path patching from the sender set into each receiver head's q, k and v input separately:
 * three [nLayers, nHeads] sweeps `path_q`, `path_k`, `path_v` (null where no sender precedes the head).
 */
export async function pathFromSendersSweeps(ctx: PatchContext, senderSpecs: string[], opts: SweepOptions & { engine?: PatchingEngine } = {}): Promise<Sweep[]> {
  const { nLayers, nHeads } = ctx.model.cfg;
  const layout = layoutOf(ctx, opts);
  const senders = senderSpecs.map((s) => parseSender(s, layout));
  if (senders.length === 0) fail('path patching needs at least one sender');
  const label = senders.join('+');
  const sweeps: Sweep[] = [];
  for (const x of ['q', 'k', 'v'] as const) {
    const sets: string[][] = [];
    for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) sets.push(edgesBetween(layout, senders, [`a${l}.h${h}<${x}>`]));
    sweeps.push(makeSweep(ctx, `path_${x}`, `path patching: ${label} -> each head's ${x}`, layerLabels(nLayers), headLabels(nHeads), await runSparse(ctx, sets, opts)));
  }
  return sweeps;
}

/** Path patching from each head into the receiver set jointly: [nLayers, nHeads] (null where a head feeds none of them). */
export async function pathToReceiversSweep(ctx: PatchContext, receiverSpecs: string[], opts: SweepOptions & { engine?: PatchingEngine } = {}): Promise<Sweep> {
  const { nLayers, nHeads } = ctx.model.cfg;
  const layout = layoutOf(ctx, opts);
  const groups = receiverSpecs.map((r) => parseReceiver(r, layout));
  if (groups.length === 0) fail('path patching needs at least one receiver');
  const receivers = groups.flatMap((g) => g.receivers);
  const sets: string[][] = [];
  for (let l = 0; l < nLayers; l++) for (let h = 0; h < nHeads; h++) sets.push(edgesBetween(layout, [`a${l}.h${h}`], receivers));
  return makeSweep(ctx, 'path_to_receivers', `path patching: each head -> ${groups.map((g) => g.label).join(', ')}`, layerLabels(nLayers), headLabels(nHeads), await runSparse(ctx, sets, opts));
}

/** Path patching from the sender set into each receiver, then into all of them: [1, |receivers| + 1]. */
export async function pathSweep(ctx: PatchContext, senderSpecs: string[], receiverSpecs: string[], opts: SweepOptions & { engine?: PatchingEngine } = {}): Promise<Sweep> {
  const layout = layoutOf(ctx, opts);
  const senders = senderSpecs.map((s) => parseSender(s, layout));
  const groups = receiverSpecs.map((r) => parseReceiver(r, layout));
  if (senders.length === 0 || groups.length === 0) fail('path patching needs senders and receivers');
  const sets = groups.map((g) => edgesBetween(layout, senders, g.receivers));
  sets.forEach((s, i) => { if (s.length === 0) fail(`no edge runs from ${senders.join(', ')} into '${groups[i].label}' (a sender must sit in an earlier layer than its receiver)`); });
  sets.push(sets.flat());
  const label = senders.join('+');
  return makeSweep(ctx, 'path', `path patching: ${label} -> receivers`, [label], [...groups.map((g) => g.label), 'all'], await runSparse(ctx, sets, opts));
}

// ---------------------------------------------------------------------------------------------
// Everything at once

export const PATCH_KINDS = ['resid', 'heads', 'qkv', 'pattern', 'path', 'all'] as const;
export type PatchKind = (typeof PATCH_KINDS)[number];

export interface PatchOptions extends SweepOptions {
  kinds?: readonly PatchKind[];
  senders?: string[];
  receivers?: string[];
}

export interface PatchResult {
  mode: PatchMode;
  metric: typeof METRIC_NAME;
  normalisation: string;
  clean: number;
  corrupted: number;
  sweeps: Sweep[];
}

export const NORMALISATION = '(patched - corrupted) / (clean - corrupted): 1 = clean behaviour, 0 = corrupted';

/**
 * The sweeps the kinds name: resid -> resid_pre; heads -> head_out; qkv -> head_q/k/v;
 * pattern -> head_pattern; path -> path_logits plus, when senders and/or receivers are given,
 * path_q/k/v (senders only), path_to_receivers (receivers only) or path (both); all -> every one.
 */
export async function runPatching(ctx: PatchContext, opts: PatchOptions = {}): Promise<PatchResult> {
  const kinds = new Set<PatchKind>(opts.kinds ?? ['all']);
  const want = (k: PatchKind) => kinds.has(k) || kinds.has('all');
  const senders = opts.senders ?? [], receivers = opts.receivers ?? [];
  const sweeps: Sweep[] = [];
  if (want('resid')) sweeps.push(await residPreSweep(ctx, opts));
  if (want('heads')) sweeps.push(await headSweep(ctx, 'out', opts));
  if (want('qkv')) for (const x of ['q', 'k', 'v'] as const) sweeps.push(await headSweep(ctx, x, opts));
  if (want('pattern')) sweeps.push(await headSweep(ctx, 'pattern', opts));
  if (want('path')) {
    const engine = pathEngine(ctx);
    try {
      const o = { ...opts, engine };
      sweeps.push(await pathToLogitsSweep(ctx, o));
      if (senders.length > 0 && receivers.length > 0) sweeps.push(await pathSweep(ctx, senders, receivers, o));
      else if (senders.length > 0) sweeps.push(...await pathFromSendersSweeps(ctx, senders, o));
      else if (receivers.length > 0) sweeps.push(await pathToReceiversSweep(ctx, receivers, o));
    } finally {
      engine.dispose();
    }
  }
  return { mode: ctx.mode, metric: METRIC_NAME, normalisation: NORMALISATION, clean: ctx.cleanMetric, corrupted: ctx.corruptedMetric, sweeps };
}

/** The `k` cells that move furthest from the unpatched score (0 when denoising, 1 when noising). */
export function topCells(sweep: Sweep, mode: PatchMode, k = 5): { row: string; col: string; value: number }[] {
  const ref = mode === 'denoise' ? 0 : 1;
  const cells: { row: string; col: string; value: number }[] = [];
  sweep.values.forEach((r, i) => r.forEach((v, j) => { if (v !== null) cells.push({ row: sweep.rowLabels[i], col: sweep.colLabels[j], value: v }); }));
  return cells.sort((a, b) => Math.abs(b.value - ref) - Math.abs(a.value - ref)).slice(0, k);
}
