/**
 * Batch chunking for the edge-masked forward: the prompts are split into chunks of at most
 * `batchSize` rows, each with its own PatchingEngine (its own cached clean/ablated sender
 * outputs), and run one after another; logits are concatenated along the batch axis, so a
 * metric computed on them is the metric of the whole batch. Memory then scales with the chunk,
 * not the batch (`--batch-size`).
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import { PatchingEngine, type EngineOptions, type Prefix } from './engine.js';
import { ablationRows, type Ablation } from './ablation.js';
import { buildLayout, fullMask, type PatchLayout } from '../graph/layout.js';
import type { Objective } from './objective.js';
import type { Interpolation } from './attribution.js';
import type { Attribution, CircuitEvaluator, EngineStats, MaskGradient, RunOptions } from './evaluator.js';
import { circuitsThatFit } from './budget.js';

/**
 * The batch's gradient from its parts' (each the mean over its rows): sum of rows/N times each,
 * N the rows of all parts (the metric is a mean over rows).
 */
export function rowWeightedMean(parts: readonly { grad: Float64Array; rows: number }[]): Float64Array {
  const N = parts.reduce((a, p) => a + p.rows, 0);
  const out = new Float64Array(parts[0].grad.length);
  for (const { grad, rows } of parts) for (let j = 0; j < out.length; j++) out[j] += (rows / N) * grad[j];
  return out;
}

class ChunkPrefix {
  constructor(readonly parts: Prefix[]) {}
  dispose(): void { for (const p of this.parts) p.dispose(); }
}

export class ChunkedEngine implements CircuitEvaluator {
  readonly engines: PatchingEngine[] = [];
  /** first row of each chunk in the whole batch */
  readonly offsets: number[] = [];
  /** rows of each chunk */
  readonly sizes: number[] = [];
  readonly layout: PatchLayout;
  private readonly streaming: boolean;
  private dead = true;
  private readonly done = { runs: 0, circuits: 0, flops: 0 };

  /**
   * `streaming`: hold no chunk engines; each call builds a chunk's engine (its clean and ablated
   * runs), uses it and frees it, so memory is one chunk's whatever the batch (attribution's
   * final evaluation; layer-resumed prefixes are not available then).
   */
  constructor(private readonly model: HookedTransformer, private readonly clean: number[][], private readonly ablation: Ablation, private readonly opts: EngineOptions & { batchSize: number; streaming?: boolean }) {
    const bs = Math.floor(opts.batchSize);
    if (!(bs >= 1)) throw new Error(`patching: --batch-size must be a positive integer, got ${opts.batchSize}`);
    this.streaming = opts.streaming ?? false;
    this.layout = buildLayout(model.cfg, opts.splitEmbed ?? false);
    for (let s = 0; s < clean.length; s += bs) { this.offsets.push(s); this.sizes.push(Math.min(bs, clean.length - s)); }
    if (this.streaming) return;
    try {
      for (let i = 0; i < this.offsets.length; i++) this.engines.push(this.build(i));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** The engine of chunk i (rows offsets[i] .. + sizes[i]); the caller owns it. */
  build(i: number, extra: EngineOptions = {}): PatchingEngine {
    const s = this.offsets[i], e = s + this.sizes[i];
    const rows = (x: number[][]) => x.slice(s, e);
    const engine = new PatchingEngine(this.model, rows(this.clean), ablationRows(this.ablation, s, e), { splitEmbed: this.opts.splitEmbed, attribution: this.opts.attribution, positions: this.opts.positions ? rows(this.opts.positions) : undefined, ...extra });
    engine.skipDead = this.dead;
    return engine;
  }

  /** Each chunk's engine in turn: the held ones, or (streaming) built and freed one at a time. */
  *each(extra: EngineOptions = {}): Generator<PatchingEngine> {
    if (!this.streaming) { yield* this.engines; return; }
    for (let i = 0; i < this.offsets.length; i++) {
      const e = this.build(i, extra);
      try {
        yield e;
      } finally {
        this.done.runs += e.stats.runs; this.done.circuits += e.stats.circuits; this.done.flops += e.stats.flops;
        e.dispose();
      }
    }
  }

  get skipDead(): boolean { return this.dead; }
  set skipDead(v: boolean) { this.dead = v; for (const e of this.engines) e.skipDead = v; }
  get stats(): EngineStats {
    const s = { ...this.done };
    for (const e of this.engines) { s.runs += e.stats.runs; s.circuits += e.stats.circuits; s.flops += e.stats.flops; }
    return s;
  }
  fullMask(): Float32Array { return fullMask(this.layout); }
  get maxCircuits(): number { return circuitsThatFit(this.model.cfg, this.clean[0]?.length ?? 0, Math.max(...this.sizes)); }
  stageOfRow(r: number): number { return this.held('stageOfRow').stageOfRow(r); }
  firstRowOfStage(stage: number): number { return this.held('firstRowOfStage').firstRowOfStage(stage); }
  fullForwardFlops(): number { return this.engines.reduce((a, e) => a + e.fullForwardFlops(), 0); }

  private held(what: string): PatchingEngine {
    if (this.engines.length === 0) throw new Error(`patching: ${what} needs held chunk engines (not available when streaming)`);
    return this.engines[0];
  }

  cleanLogits(): tf.Tensor3D {
    const outs = this.offsets.map((s, i) => {
      if (!this.streaming) return this.engines[i].cleanLogits();
      const e = s + this.sizes[i];
      return PatchingEngine.cleanLogitsOf(this.model, this.clean.slice(s, e), this.opts.positions?.slice(s, e));
    });
    try {
      return outs.length === 1 ? outs.pop()! : (tf.concat(outs, 0) as tf.Tensor3D);
    } finally {
      tf.dispose(outs);
    }
  }

  run(masks: Float32Array[], opts: RunOptions = {}): tf.Tensor4D {
    const from = opts.from as ChunkPrefix | undefined;
    if (from && this.streaming) throw new Error('patching: layer-resumed prefixes need held chunk engines (not available when streaming)');
    const outs: tf.Tensor4D[] = [];
    try {
      let i = 0;
      for (const e of this.each()) { outs.push(e.run(masks, { from: from?.parts[i], separately: opts.separately })); i++; }
      return outs.length === 1 ? outs.pop()! : (tf.concat(outs, 1) as tf.Tensor4D);
    } finally {
      tf.dispose(outs);
    }
  }

  prefix(mask: Float32Array, stage: number): ChunkPrefix {
    this.held('prefix');
    const parts: Prefix[] = [];
    try {
      for (const e of this.engines) parts.push(e.prefix(mask, stage));
    } catch (err) {
      for (const p of parts) p.dispose();
      throw err;
    }
    return new ChunkPrefix(parts);
  }

  async attribute(objective: Objective, alphas: number[], onChunk?: (done: number, total: number) => void, interpolate: Interpolation = 'inputs'): Promise<Attribution> {
    const parts: { grad: Float64Array; rows: number }[] = [];
    let seconds = 0;
    let i = 0;
    for (const e of this.each({ attribution: true })) {
      const s = this.offsets[i], rows = this.sizes[i];
      const obj = objective.rows(s, s + rows);
      try {
        const r = await e.attribute(obj, alphas, undefined, interpolate);
        seconds += r.seconds;
        parts.push({ grad: r.grad, rows });
      } finally {
        obj.dispose();
      }
      i++;
      onChunk?.(i, this.offsets.length);
    }
    return { grad: rowWeightedMean(parts), seconds };
  }

  /** Each chunk's value and mask gradient (its rows' objective), weighted by its rows. */
  async maskGradient(objective: Objective, mask: Float32Array): Promise<MaskGradient> {
    const parts: { grad: Float64Array; rows: number }[] = [];
    let value = 0, i = 0;
    const N = this.sizes.reduce((a, b) => a + b, 0);
    for (const e of this.each()) {
      const s = this.offsets[i], rows = this.sizes[i];
      const obj = objective.rows(s, s + rows);
      try {
        const r = await e.maskGradient(obj, mask);
        value += (rows / N) * r.value;
        parts.push({ grad: r.grad, rows });
      } finally {
        obj.dispose();
      }
      i++;
    }
    return { value, grad: rowWeightedMean(parts) };
  }

  dispose(): void { for (const e of this.engines) e.dispose(); this.engines.length = 0; }
}
