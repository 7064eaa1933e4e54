/**
 * The edge-masked forward (docs/patching.md). For a circuit C every
 * receiver r reads
 *   x_r = base_r + sum_u m[r,u] * (out_u(patched) - out_u(ablated))
 * where base_r = constants (biases) + sum_u out_u(ablated) is fixed per receiver layer, and
 * out_u(ablated) comes from one cached run on the corrupted batch (resample), zeros (zero) or
 * the per-position mean over a reference batch (mean). With every edge this is the clean run,
 * with none the ablated run.
 *
 * Many circuits run in one batched forward: masks [C, R, S] and per-sender-group deltas
 * [C, n_g, B*T*D], one matmul per (receiver block, sender group). A `Prefix` caches the deltas
 * of the groups computed before a stage, so circuits that differ only in edges into later
 * receivers recompute from that stage on (ACDC's layer-resumed evaluation).
 *
 * Stages: 2L = attention of layer L (its q/k/v receivers), 2L+1 = MLP L, 2*nLayers = logits.
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer, HookSpec } from '../model/transformer.js';
import { hook } from '../model/hook-names.js';
import { linear } from '../model/components.js';
import { attention, mlp, normalize, qkInput } from '../model/block.js';
import { buildLayout, fullMask, type PatchLayout } from '../graph/layout.js';
import type { Ablation } from './ablation.js';
import { attributionGradient, type Interpolation } from './attribution.js';
import type { Attribution, CircuitEvaluator, EngineStats, MaskGradient, RunOptions } from './evaluator.js';
import type { Objective } from './objective.js';
import { circuitsThatFit } from './budget.js';


export interface EngineOptions {
  splitEmbed?: boolean;
  /**
   * Keep the clean - ablated sender deltas from setup for attribution (EAP / EAP-IG probes),
   * instead of recomputing them with a full-circuit forward on first use.
   */
  attribution?: boolean;
  /** positions whose logits are returned, per row (same count per row); default: every position */
  positions?: number[][];
}

/** Deltas (patched - ablated) of some senders: columns `col .. col+n-1`, or the listed `cols`. */
interface Group { col: number; n: number; cols?: number[]; colIdx?: tf.Tensor1D; delta: tf.Tensor3D /* [C|1, n, B*T*D] */ }

/** What one edge-masked forward computes, besides the masks [C, R, S]. */
interface ForwardOptions {
  /**
   * [1|C, R, S], zero-valued: adds sum_u probe[r,u] * (out_u(clean) - out_u(ablated)) to every
   * receiver input (runTensor: its gradient is every edge's attribution)
   */
  probe?: tf.Tensor3D | null;
  /** resume from a prefix: the stages before `from.stage` are its cached deltas */
  from?: Prefix | null;
  /** stop before `stage` and hand over the sender deltas computed (prefix); returns null */
  collect?: { stage: number; groups: Group[] } | null;
  /** per sender column, 1 where some circuit reads it (the rest are skipped); null: all */
  live?: Uint8Array | null;
  /** keep every intermediate the forward builds (it runs under a gradient tape) */
  retain?: boolean;
}


/** Deltas of the sender groups produced before `stage`, for one circuit. Owns its tensors. */
export class Prefix {
  constructor(readonly mask: Float32Array, readonly stage: number, readonly groups: Group[]) {}
  dispose(): void { for (const g of this.groups) { g.delta.dispose(); g.colIdx?.dispose(); } this.groups.length = 0; }
}

/**
 * Validated metric positions (default: every position of every row) and the one-hot matrix
 * [B*K, B*T] selecting them from the flattened rows. One-hot rather than a gather: the gather's
 * gradient has no wasm kernel.
 */
function positionSelector(given: number[][] | undefined, B: number, T: number): { positions: number[][]; K: number; sel: Float32Array } {
  const positions = given ?? Array.from({ length: B }, () => Array.from({ length: T }, (_, i) => i));
  if (positions.length !== B) throw new Error(`patching: positions has ${positions.length} rows, batch has ${B}`);
  const K = positions[0].length;
  const sel = new Float32Array(B * K * B * T);
  positions.forEach((row, b) => {
    if (row.length !== K) throw new Error('patching: every row needs the same number of positions');
    row.forEach((p, k) => {
      if (!Number.isInteger(p) || p < 0 || p >= T) throw new Error(`patching: position ${p} of row ${b} is outside [0, ${T})`);
      sel[(b * K + k) * B * T + b * T + p] = 1;
    });
  });
  return { positions, K, sel };
}

export class PatchingEngine implements CircuitEvaluator {
  readonly layout: PatchLayout;
  readonly B: number;
  readonly T: number;
  readonly K: number;
  /** the metric positions of each row (K per row) */
  readonly positions: number[][];
  private readonly exists: tf.Tensor2D; // [R, S] structural adjacency
  private readonly existsHost: Float32Array;
  private readonly held: tf.Tensor[] = [];
  private embedGroup!: Group;
  private scHeads: tf.Tensor[] = []; // [1,B,T,H,D]
  private scMlp: tf.Tensor[] = []; // [1,B,T,D]
  private baseAttn: tf.Tensor[] = []; // [B,T,D]
  private baseMlp: tf.Tensor[] = [];
  private baseLogits!: tf.Tensor;
  private qkExtra: tf.Tensor | null = null; // shortformer: added to q/k inputs
  private posSel!: tf.Tensor3D; // [1, B*K, B*T] one-hot rows selecting the metric positions
  private disposed = false;
  /** Skip senders no circuit of a run reads (exact: their deltas are multiplied by 0). */
  skipDead = true;
  readonly stats: EngineStats = { runs: 0, circuits: 0, flops: 0 };

  constructor(readonly model: HookedTransformer, readonly clean: number[][], readonly ablation: Ablation, opts: EngineOptions = {}) {
    const cfg = model.cfg;
    this.layout = buildLayout(cfg, opts.splitEmbed ?? false);
    this.B = clean.length;
    this.T = clean[0]?.length ?? 0;
    if (this.B === 0 || this.T === 0) throw new Error('patching: empty clean batch');
    if (ablation.kind === 'resample') {
      const c = ablation.corrupt;
      if (c.length !== this.B || c.some((r) => r.length !== this.T)) {
        throw new Error(`patching: corrupted batch is [${c.length}, ${c[0]?.length}] but the clean batch is [${this.B}, ${this.T}]; they must match`);
      }
    }
    if (ablation.kind === 'mean' && ablation.reference.some((r) => r.length !== this.T)) {
      throw new Error(`patching: mean-ablation reference rows must have ${this.T} tokens`);
    }
    const { positions, K, sel } = positionSelector(opts.positions, this.B, this.T);
    this.positions = positions;
    this.K = K;
    this.posSel = this.hold(tf.tensor3d(sel, [1, this.B * K, this.B * this.T]));
    this.existsHost = fullMask(this.layout);
    this.exists = this.hold(tf.tensor2d(this.existsHost, [this.layout.receivers.length, this.layout.senders.length]));
    this.setup(opts.attribution ?? false);
  }

  private hold<T extends tf.Tensor>(t: T): T { this.held.push(tf.keep(t)); return t; }

  get maxCircuits(): number { return circuitsThatFit(this.model.cfg, this.T, this.B); }

  /** Sender outputs of a run, named like the graph's groups. */
  private senderOutputs(tokens: number[][]): { embed: tf.Tensor; pos: tf.Tensor; heads: tf.Tensor[]; mlps: tf.Tensor[] } {
    const cfg = this.model.cfg;
    const names: string[] = [hook.embed, hook.posEmbed];
    for (let l = 0; l < cfg.nLayers; l++) { names.push(hook.result(l)); if (!cfg.attnOnly) names.push(hook.mlpOut(l)); }
    // Hooks that keep the outputs, on the residual-only forward (no unembedding).
    const kept = new Map<string, tf.Tensor>();
    const hooks: HookSpec[] = names.map((n) => [n, (x: tf.Tensor) => { kept.set(n, tf.keep(x.clone())); }]);
    try {
      this.model.residualWithHooks(tokens, hooks).dispose();
    } catch (e) {
      tf.dispose([...kept.values()]);
      throw e;
    }
    const take = (n: string) => { const t = kept.get(n)!; kept.delete(n); return t; };
    const out = {
      embed: take(hook.embed), pos: take(hook.posEmbed),
      heads: Array.from({ length: cfg.nLayers }, (_, l) => take(hook.result(l))),
      // An MLP sender's output excludes b_out (a constant, like b_O), as a head's excludes b_O.
      mlps: cfg.attnOnly ? [] : Array.from({ length: cfg.nLayers }, (_, l) => {
        const t = take(hook.mlpOut(l));
        const y = tf.sub(t, this.model.params.layers[l].bout!);
        t.dispose();
        return y;
      }),
    };
    tf.dispose([...kept.values()]);
    return out;
  }

  private setup(keepDeltas: boolean): void {
    const cfg = this.model.cfg;
    const { B, T } = this;
    const D = cfg.dModel;
    const shortformer = cfg.positionalEmbeddingType === 'shortformer';
    const split = this.layout.splitEmbed;
    const P = this.model.params;

    const cleanOut = this.senderOutputs(this.clean);
    let ab: { embed: tf.Tensor; pos: tf.Tensor; heads: tf.Tensor[]; mlps: tf.Tensor[] };
    if (this.ablation.kind === 'resample') ab = this.senderOutputs(this.ablation.corrupt);
    else if (this.ablation.kind === 'mean') {
      const r = this.senderOutputs(this.ablation.reference);
      const m = (t: tf.Tensor) => { const y = tf.tidy(() => tf.tile(tf.mean(t, 0, true), [B, ...t.shape.slice(1).map(() => 1)])); t.dispose(); return y; };
      ab = { embed: m(r.embed), pos: m(r.pos), heads: r.heads.map(m), mlps: r.mlps.map(m) };
    } else {
      const z = (t: tf.Tensor) => { const y = tf.zerosLike(t); t.dispose(); return y; };
      ab = { embed: z(cleanOut.embed.clone()), pos: z(cleanOut.pos.clone()), heads: cleanOut.heads.map((t) => z(t.clone())), mlps: cleanOut.mlps.map((t) => z(t.clone())) };
    }

    tf.tidy(() => {
      const BTD = B * T * D;
      // Embedding senders: [input] or [tok, pos].
      const sp: tf.Tensor[] = [], sc: tf.Tensor[] = [];
      if (split) { sp.push(cleanOut.embed, cleanOut.pos); sc.push(ab.embed, ab.pos); }
      else if (shortformer) { sp.push(cleanOut.embed); sc.push(ab.embed); }
      else { sp.push(tf.add(cleanOut.embed, cleanOut.pos)); sc.push(tf.add(ab.embed, ab.pos)); }
      const delta = tf.stack(sp.map((p, i) => tf.reshape(tf.sub(p, sc[i]), [BTD]))).reshape([1, sp.length, BTD]) as tf.Tensor3D;
      this.embedGroup = { col: 0, n: sp.length, delta: this.hold(delta) };
      if (shortformer) this.qkExtra = this.hold(split ? ab.pos.clone() : cleanOut.pos.clone());
      // Constant part of each receiver block's input.
      let base: tf.Tensor = shortformer ? ab.embed : split ? tf.add(ab.embed, ab.pos) : sc[0];
      for (let l = 0; l < cfg.nLayers; l++) {
        this.baseAttn.push(this.hold(tf.reshape(base, [B, T, D])));
        const heads = ab.heads[l]; // [B,T,H,D]
        this.scHeads.push(this.hold(tf.expandDims(heads, 0)));
        base = tf.add(tf.add(base, tf.sum(heads, 2)), P.layers[l].bO);
        if (!cfg.attnOnly) {
          this.baseMlp.push(this.hold(tf.reshape(base, [B, T, D])));
          this.scMlp.push(this.hold(tf.expandDims(ab.mlps[l], 0)));
          base = tf.add(tf.add(base, ab.mlps[l]), P.layers[l].bout!);
        }
      }
      this.baseLogits = this.hold(tf.reshape(base, [B, T, D]));
    });
    if (keepDeltas) {
      // The full circuit's sender deltas are clean - ablated outputs: no extra forward needed.
      const groups: Group[] = [];
      tf.tidy(() => {
        for (let l = 0; l < cfg.nLayers; l++) {
          const d = tf.sub(cleanOut.heads[l], ab.heads[l]); // [B,T,H,D]
          groups.push({ col: this.layout.headCol(l), n: cfg.nHeads, delta: tf.keep(tf.reshape(tf.transpose(d, [2, 0, 1, 3]), [1, cfg.nHeads, B * T * D])) as tf.Tensor3D });
          if (!cfg.attnOnly) groups.push({ col: this.layout.mlpCol(l), n: 1, delta: tf.keep(tf.reshape(tf.sub(cleanOut.mlps[l], ab.mlps[l]), [1, 1, B * T * D])) as tf.Tensor3D });
        }
      });
      this.fixed = new Prefix(this.existsHost.slice(), 2 * cfg.nLayers, [this.embedGroup, ...groups]);
    }
    tf.dispose([cleanOut.embed, cleanOut.pos, ...cleanOut.heads, ...cleanOut.mlps, ab.embed, ab.pos, ...ab.heads, ...ab.mlps]);
  }

  /** Full-graph mask (the clean model). */
  fullMask(): Float32Array { return this.existsHost.slice(); }

  /** Logits [C, B, K, V] for each circuit mask (see layout.ts for the mask layout). */
  run(masks: Float32Array[], opts: RunOptions = {}): tf.Tensor4D {
    const from = opts.from as Prefix | undefined;
    if (masks.length === 0) throw new Error('patching: no circuits to run');
    if (opts.separately && masks.length > 1) {
      // One forward per circuit: each skips the senders it does not read (an empty circuit
      // costs almost nothing), where a batched forward computes the union for all.
      const outs = masks.map((m) => this.run([m], { from }));
      try { return tf.concat(outs, 0) as tf.Tensor4D; } finally { tf.dispose(outs); }
    }
    const R = this.layout.receivers.length, S = this.layout.senders.length;
    for (const m of masks) if (m.length !== R * S) throw new Error(`patching: mask has ${m.length} entries, expected ${R} x ${S}`);
    if (from) this.checkPrefix(masks, from);
    const all = new Float32Array(masks.length * R * S);
    masks.forEach((m, i) => all.set(m, i * R * S));
    let live: Uint8Array | null = null;
    if (this.skipDead) {
      live = new Uint8Array(S);
      for (const m of masks) for (let r = 0; r < R; r++) {
        const o = r * S;
        for (let sIdx = 0; sIdx < S; sIdx++) if (m[o + sIdx] !== 0 && this.existsHost[o + sIdx] === 1) live[sIdx] = 1;
      }
    }
    const M = tf.tensor3d(all, [masks.length, R, S]);
    try {
      return this.forward(M, { from, live }) as tf.Tensor4D;
    } finally { M.dispose(); }
  }

  /** FLOPs of one naive full forward of the batch (every component, logits at every position). */
  fullForwardFlops(): number {
    const cfg = this.model.cfg;
    const { dModel: D, dHead: Dh, nHeads: H } = cfg;
    const perTokenLayer = H * (8 * D * Dh + 4 * this.T * Dh) + (cfg.attnOnly ? 0 : 4 * D * (cfg.dMlp ?? 0));
    return this.B * this.T * (cfg.nLayers * perTokenLayer + 2 * D * cfg.dVocabOut);
  }

  /**
   * Differentiable form: masks as a tensor [C, R, S] (entries may be fractional), plus an
   * optional `probe` [1|C, R, S] that adds sum_u probe[r,u] * (out_u(clean) - out_u(ablated))
   * to every receiver input. The probe is zero in value; its gradient is the EAP contraction
   * (clean - ablated) . dMetric/dx_r for every edge at once.
   */
  runTensor(M: tf.Tensor3D, opts: { probe?: tf.Tensor3D } = {}): tf.Tensor4D {
    return this.forward(M, { probe: opts.probe, retain: true }) as tf.Tensor4D;
  }

  /**
   * Every sender's clean - ablated output as rows of one matrix [S, B*T*D] (sender column
   * order; each row a flattened [B, T, D]). The caller owns the tensor.
   */
  senderDeltaMatrix(): tf.Tensor2D {
    const S = this.layout.senders.length;
    return tf.tidy(() => tf.reshape(tf.concat(this.fixedGroups().map((g) => g.delta), 1), [S, -1]) as tf.Tensor2D);
  }

  /**
   * The clean model's logits at the metric positions [B, K, V] from a plain forward (equal to
   * the full circuit's run, which costs several plain forwards; tested).
   */
  cleanLogits(): tf.Tensor3D {
    return PatchingEngine.cleanLogitsOf(this.model, this.clean, this.positions);
  }

  /** The same without an engine: the model's logits [B, K, V] at `positions` (default: all). */
  static cleanLogitsOf(model: HookedTransformer, tokens: number[][], positions?: number[][]): tf.Tensor3D {
    const B = tokens.length, T = tokens[0]?.length ?? 0;
    const { K, sel } = positionSelector(positions, B, T);
    return tf.tidy(() => {
      const resid = model.residualWithHooks(tokens);
      const x = tf.matMul(tf.tensor2d(sel, [B * K, B * T]), tf.reshape(resid, [B * T, -1]) as tf.Tensor2D);
      return tf.reshape(model.unembed(x), [B, K, -1]) as tf.Tensor3D;
    });
  }

  /** Residuals [B, T, D] at the metric positions: [1, B, K, D] (a one-hot matmul, differentiable). */
  atMetricPositions(x: tf.Tensor3D): tf.Tensor4D {
    const D = x.shape[2];
    return tf.tidy(() => tf.reshape(tf.matMul(this.posSel, tf.reshape(x, [1, this.B * this.T, D])), [1, this.B, this.K, D]) as tf.Tensor4D);
  }

  private fixed: Prefix | null = null;
  /** Sender deltas (clean - ablated) of the full circuit, computed once. */
  private fixedGroups(): Group[] {
    if (!this.fixed) {
      const full = this.fullMask();
      this.fixed = this.prefix(full, 2 * this.model.cfg.nLayers);
      this.fixed.groups.unshift(this.embedGroup);
    }
    return this.fixed.groups;
  }

  /** Run one circuit up to `stage` and keep the sender deltas computed before it. */
  prefix(mask: Float32Array, stage: number): Prefix {
    const groups: Group[] = [];
    const M = tf.tensor3d(mask, [1, this.layout.receivers.length, this.layout.senders.length]);
    try {
      this.forward(M, { collect: { stage, groups } });
    } finally { M.dispose(); }
    return new Prefix(mask.slice(), stage, groups);
  }

  private checkPrefix(masks: Float32Array[], p: Prefix): void {
    // Rows of receivers in stages before p.stage must agree with the prefix's mask.
    const S = this.layout.senders.length;
    const lastRow = this.firstRowOfStage(p.stage);
    for (const m of masks) for (let i = 0; i < lastRow * S; i++) {
      if (m[i] !== p.mask[i] && this.existsHost[i] === 1) {
        throw new Error(`patching: circuit differs from the cached prefix at edge ${this.layout.senders[i % S]}->${this.layout.receivers[Math.floor(i / S)]} (before stage ${p.stage})`);
      }
    }
  }

  /** First receiver row read at or after `stage`. */
  firstRowOfStage(stage: number): number {
    const L = Math.floor(stage / 2);
    if (L >= this.model.cfg.nLayers) return this.layout.logitsRow;
    return stage % 2 === 0 ? this.layout.attnRow(L) : this.layout.mlpRow(L);
  }

  /** Stage that reads receiver row r. */
  stageOfRow(r: number): number {
    const cfg = this.model.cfg;
    if (r === this.layout.logitsRow) return 2 * cfg.nLayers;
    const per = 3 * cfg.nHeads + (cfg.attnOnly ? 0 : 1);
    const L = Math.floor(r / per);
    return r - L * per === 3 * cfg.nHeads ? 2 * L + 1 : 2 * L;
  }

  /**
   * The edge-masked forward of masks [C, R, S]: logits [C, B, K, V] at the metric positions, or
   * null when collecting a prefix. Each receiver block runs the model's own block functions
   * (src/model/block.ts) on its per-receiver inputs.
   */
  private forward(Min: tf.Tensor3D, opts: ForwardOptions = {}): tf.Tensor | null {
    const probe = opts.probe ?? null, from = opts.from ?? null, collect = opts.collect ?? null;
    const live = opts.live ?? null, retain = opts.retain ?? false;
    if (this.disposed) throw new Error('patching: engine used after dispose()');
    const cfg = this.model.cfg;
    const P = this.model.params;
    const { B, T } = this;
    const { nHeads: H, dModel: D } = cfg;
    const R = this.layout.receivers.length, S = this.layout.senders.length;
    if (Min.rank !== 3 || Min.shape[1] !== R || Min.shape[2] !== S) throw new Error(`patching: masks must be [C, ${R}, ${S}], got [${Min.shape}]`);
    const C = Min.shape[0];
    const start = from ? from.stage : 0;
    const stop = collect ? collect.stage : Infinity;
    const M = tf.mul(Min, this.exists) as tf.Tensor3D;
    const P3 = probe ? (tf.mul(probe, this.exists) as tf.Tensor3D) : null;
    const fixed = probe ? this.fixedGroups() : [];
    const groups: Group[] = [this.embedGroup, ...(from ? from.groups : [])];
    const own: Group[] = [];
    const norm = (x: tf.Tensor, w: tf.Tensor | null, b: tf.Tensor | null) => normalize(x, w, b, cfg).out;
    const { dHead: Dh } = cfg;
    const perRow = (f: number) => { this.stats.flops += f * C * B; };
    this.stats.runs++;
    this.stats.circuits += C;
    /**
     * Concatenated deltas of a list of groups (one tensor, so a receiver block's contraction is
     * one matmul per batch kind: under a gradient tape, per-group products would each be kept),
     * cached for the forward by the groups' identity; with the column indices they cover.
     */
    const catCache = new Map<string, { delta: tf.Tensor3D; idx: tf.Tensor1D | null; first: number; n: number }>();
    const concatOf = (gs: Group[], tag: string) => {
      const key = `${tag}:${gs.length}:${gs.map((g) => g.col).join(',')}`;
      let c = catCache.get(key);
      if (!c) {
        // Outside a gradient tape only the current stage's concatenation is needed: free the
        // earlier stages' (each holds every earlier sender's deltas; kept, they summed to
        // O(layers^2) memory, 1.3 GB for one GPT-2-small circuit of 5 prompts).
        if (!retain) for (const [k, old] of catCache) if (k.startsWith(`${tag}:`)) { old.delta.dispose(); old.idx?.dispose(); catCache.delete(k); }
        const colList = gs.flatMap((g) => g.cols ?? Array.from({ length: g.n }, (_, i) => g.col + i));
        const contiguous = colList.every((x, i) => x === colList[0] + i);
        c = {
          delta: tf.keep(gs.length === 1 ? gs[0].delta.clone() : (tf.concat(gs.map((g) => g.delta), 1) as tf.Tensor3D)),
          idx: contiguous ? null : tf.keep(tf.tensor1d(colList, 'int32')),
          first: colList[0], n: colList.length,
        };
        catCache.set(key, c);
      }
      return c;
    };
    const contractPart = (rows: tf.Tensor3D, gs: Group[], tag: string): tf.Tensor | null => {
      if (gs.length === 0) return null;
      const c = concatOf(gs, tag);
      const m = c.idx ? tf.gather(rows, c.idx, 2) : tf.slice(rows, [0, 0, c.first], [rows.shape[0], rows.shape[1], c.n]);
      const [Cm, nr] = [rows.shape[0], rows.shape[1]];
      if (c.delta.shape[0] === 1 && Cm > 1) {
        // Shared deltas: one 2-D matmul [C*nr, n] x [n, BTD] instead of a broadcast batched
        // matmul (which copies the shared operand C times on wasm).
        const y = tf.matMul(tf.reshape(m, [Cm * nr, c.n]) as tf.Tensor2D, tf.reshape(c.delta, [c.n, -1]) as tf.Tensor2D);
        return tf.reshape(y, [Cm, nr, -1]);
      }
      if (Cm > 1) {
        // Per-circuit deltas: one 2-D matmul per circuit (XNNPACK) beats wasm's batched 3-D
        // kernel (16 circuits of [12, 20] x [20, 12800]: 26 vs 66 ms).
        const n = c.n, BTD = c.delta.shape[2];
        return tf.stack(Array.from({ length: Cm }, (_, k) => tf.matMul(
          tf.reshape(tf.slice(m, [k, 0, 0], [1, nr, n]), [nr, n]) as tf.Tensor2D,
          tf.reshape(tf.slice(c.delta, [k, 0, 0], [1, n, BTD]), [n, BTD]) as tf.Tensor2D)));
      }
      return tf.matMul(m, c.delta);
    };
    /** sum over groups of rows[:, :, group cols] @ delta -> [C, nr, B*T*D]; rows are M's (and the probe's) */
    const contract = (rows: tf.Tensor3D, prow: tf.Tensor3D | null, ncols: number): tf.Tensor => {
      const inRange = (g: Group) => g.col + g.n <= ncols;
      const shared = groups.filter((g) => inRange(g) && g.delta.shape[0] === 1); // batch 1: embedding, prefix
      const per = groups.filter((g) => inRange(g) && g.delta.shape[0] !== 1); // batch C: computed in this run
      for (const g of [...shared, ...per]) perRow(2 * rows.shape[1] * g.n * T * D);
      let acc = contractPart(rows, shared, 's')!;
      const y = contractPart(rows, per, 'c');
      if (y) acc = tf.add(acc, y);
      if (prow) {
        const z = contractPart(prow, fixed.filter(inRange), 'f');
        if (z) acc = tf.add(acc, z);
      }
      return acc;
    };
    const rowBlock = (t: tf.Tensor3D, rows: number[]): tf.Tensor3D => {
      const contiguous = rows.every((r, i) => r === rows[0] + i);
      return contiguous ? tf.slice(t, [0, rows[0], 0], [t.shape[0], rows.length, S]) : tf.gather(t, tf.tensor1d(rows, 'int32'), 1);
    };
    const gather = (rows: number[], ncols: number): tf.Tensor => contract(rowBlock(M, rows), P3 ? rowBlock(P3, rows) : null, ncols);
    const push = (g: Group) => {
      tf.keep(g.delta);
      if (g.cols) g.colIdx = tf.keep(tf.tensor1d(g.cols, 'int32'));
      groups.push(g); own.push(g); if (collect) collect.groups.push(g);
    };
    try {
      for (let l = 0; l < cfg.nLayers; l++) {
        const L = P.layers[l];
        if (2 * l >= stop) break;
        if (2 * l >= start) {
          // Heads some circuit reads (all of them without liveness information).
          const hs = Array.from({ length: H }, (_, h) => h).filter((h) => !live || live[this.layout.headCol(l) + h] === 1);
          const nh = hs.length;
          if (nh > 0) {
            const all = nh === H;
            const g = tf.tidy(() => {
              // One receiver block (the q, k or v inputs of the chosen heads) at a time:
              // [C, nh, B*T*D] -> [C*B, T, nh, D]. (A rank-5 slice of the activations is slow on wasm.)
              const base = tf.reshape(this.baseAttn[l], [1, B, T, 1, D]);
              const pos = this.qkExtra ? tf.reshape(this.qkExtra, [1, this.qkExtra.shape[0], T, 1, D]) : null;
              const part = (i: number) => {
                const rows = hs.map((h) => this.layout.attnRow(l) + i * H + h);
                const x = tf.reshape(gather(rows, this.layout.sendersBeforeAttn(l)), [C, nh, B, T, D]);
                let p = tf.add(tf.transpose(x, [0, 2, 3, 1, 4]), base);
                if (i < 2) p = qkInput(p, pos, cfg);
                return norm(tf.reshape(p, [C * B, T, nh, D]), L.ln1w, L.ln1b) as tf.Tensor4D;
              };
              const result = attention(L, cfg, { q: part(0), k: part(1), v: part(2) }, { heads: hs, output: 'result' }).result!; // [CB,T,nh,D]
              perRow(T * nh * (8 * D * Dh + 4 * T * Dh));
              const sc = all ? this.scHeads[l] : tf.gather(this.scHeads[l], tf.tensor1d(hs, 'int32'), 3);
              const delta = tf.sub(tf.reshape(result, [C, B, T, nh, D]), sc);
              return tf.reshape(tf.transpose(delta, [0, 3, 1, 2, 4]), [C, nh, B * T * D]) as tf.Tensor3D;
            });
            const col = this.layout.headCol(l);
            push(all ? { col, n: H, delta: g } : { col, n: H, cols: hs.map((h) => col + h), delta: g });
          }
        }
        if (cfg.attnOnly) continue;
        if (2 * l + 1 >= stop) break;
        if (2 * l + 1 >= start && (!live || live[this.layout.mlpCol(l)] === 1)) {
          perRow(T * 4 * D * (cfg.dMlp ?? 0));
          const g = tf.tidy(() => {
            const x = tf.add(tf.reshape(gather([this.layout.mlpRow(l)], this.layout.sendersBeforeMlp(l)), [C, B, T, D]), this.baseMlp[l]);
            const h = norm(tf.reshape(x, [C * B, T, D]), L.ln2w, L.ln2b);
            const { out } = mlp(L, cfg, h, { bias: false }); // b_out is in the base
            const delta = tf.sub(tf.reshape(out, [C, B, T, D]), this.scMlp[l]);
            return tf.reshape(delta, [C, 1, B * T * D]) as tf.Tensor3D;
          });
          push({ col: this.layout.mlpCol(l), n: 1, delta: g });
        }
      }
      if (collect) return null;
      return tf.tidy(() => {
        perRow(this.K * 2 * D * cfg.dVocabOut);
        const x = tf.add(tf.reshape(gather([this.layout.logitsRow], S), [C, B, T, D]), this.baseLogits);
        const atPos = tf.matMul(this.posSel, tf.reshape(x, [C, B * T, D])); // [C, B*K, D]
        const h = norm(atPos, P.lnfw, P.lnfb);
        return tf.reshape(linear(h, P.WU, P.bU), [C, B, this.K, cfg.dVocabOut]);
      });
    } finally {
      M.dispose();
      P3?.dispose();
      if (!collect) for (const g of own) { g.delta.dispose(); g.colIdx?.dispose(); }
      for (const c of catCache.values()) { c.delta.dispose(); c.idx?.dispose(); }
    }
  }

  /** The objective's gradient for every edge from one plain forward and backward per step (attribution.ts). */
  async attribute(objective: Objective, alphas: number[], onChunk?: (done: number, total: number) => void, interpolate: Interpolation = 'inputs'): Promise<Attribution> {
    const t = performance.now();
    const grad = await attributionGradient(this, (l) => objective.differentiable(l), alphas, interpolate);
    onChunk?.(1, 1);
    return { grad, seconds: (performance.now() - t) / 1000 };
  }

  /**
   * The objective at a soft mask and its gradient for every mask entry (evaluator.ts
   * MaskGradient): one edge-masked forward and backward (runTensor under tf.valueAndGrad), one
   * read of [value, grad]. Entries where no edge exists get 0 (the forward masks them out).
   */
  async maskGradient(objective: Objective, mask: Float32Array): Promise<MaskGradient> {
    const R = this.layout.receivers.length, S = this.layout.senders.length;
    if (mask.length !== R * S) throw new Error(`patching: mask has ${mask.length} entries, expected ${R} x ${S}`);
    const M = tf.tensor3d(mask, [1, R, S]);
    let flat: tf.Tensor1D;
    try {
      flat = tf.tidy(() => {
        const { value, grad } = tf.valueAndGrad((m: tf.Tensor3D) => objective.differentiable(this.runTensor(m)))(M);
        return tf.concat([tf.reshape(value, [1]), tf.reshape(grad, [-1])]) as tf.Tensor1D;
      });
    } catch (e) {
      // the backward holds the whole edge-masked forward's tape: the wasm heap (4 GB) aborts with
      // emscripten's words; say what to change (measured: the GPT-2-small shape fits 4 rows of
      // 18 tokens, not 6; without --batch-size, chunks are sized to fit: budget.ts)
      const msg = e instanceof Error ? e.message : String(e);
      if (/^Aborted\(|memory access out of bounds|out of memory/i.test(msg)) {
        throw new Error(`patching: the mask gradient ran out of memory with ${this.B} rows in one backward (${R} x ${S} mask): pass a smaller --batch-size (the GPT-2-small shape fits 4 rows of 18 tokens on wasm); the backend said: ${msg.split('\n')[0]}`);
      }
      throw e;
    } finally {
      M.dispose();
    }
    let d: Float32Array;
    try { d = (await flat.data()) as Float32Array; } finally { flat.dispose(); }
    const grad = new Float64Array(R * S);
    for (let i = 0; i < grad.length; i++) grad[i] = this.existsHost[i] === 1 ? d[i + 1] : 0;
    if (!Number.isFinite(d[0]) || grad.some((g) => !Number.isFinite(g))) throw new Error(`patching: the mask gradient is NaN or infinite (objective ${objective.name} = ${d[0]})`);
    return { value: d[0], grad };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.fixed) { this.fixed.groups.shift(); this.fixed.dispose(); }
    tf.dispose(this.held);
  }
}
