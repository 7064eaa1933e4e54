/**
 * Batch chunking for the edge-masked forward: the prompts are split into chunks of at most
 * `batchSize` rows, each with its own PatchingEngine (its own cached clean/ablated sender
 * outputs), and run one after another; logits are concatenated along the batch axis, so a
 * metric computed on them is the metric of the whole batch. Memory then scales with the chunk,
 * not the batch (`--batch-size`).
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import { PatchingEngine, type Ablation, type EngineOptions, type EngineStats, type Prefix } from './engine.js';
import type { PatchLayout } from './layout.js';

/** What ACDC and the evaluators need of an engine: PatchingEngine and ChunkedEngine both are. */
export interface CircuitEvaluator {
  readonly layout: PatchLayout;
  skipDead: boolean;
  fullMask(): Float32Array;
  /** the clean model's logits at the metric positions [B, K, V], from a plain forward */
  cleanLogits(): tf.Tensor3D;
  run(masks: Float32Array[], opts?: { from?: { dispose(): void } }): tf.Tensor4D;
  prefix(mask: Float32Array, stage: number): { dispose(): void };
  stageOfRow(r: number): number;
  firstRowOfStage(stage: number): number;
  fullForwardFlops(): number;
  readonly stats: EngineStats;
  dispose(): void;
}

class ChunkPrefix {
  constructor(readonly parts: Prefix[]) {}
  dispose(): void { for (const p of this.parts) p.dispose(); }
}

export class ChunkedEngine implements CircuitEvaluator {
  readonly engines: PatchingEngine[] = [];
  /** first row of each chunk in the whole batch */
  readonly offsets: number[] = [];

  constructor(model: HookedTransformer, clean: number[][], ablation: Ablation, opts: EngineOptions & { batchSize: number }) {
    const bs = Math.floor(opts.batchSize);
    if (!(bs >= 1)) throw new Error(`patching: --batch-size must be a positive integer, got ${opts.batchSize}`);
    try {
      for (let s = 0; s < clean.length; s += bs) {
        const rows = (x: number[][]) => x.slice(s, s + bs);
        const ab: Ablation = ablation.kind === 'resample' ? { kind: 'resample', corrupt: rows(ablation.corrupt) } : ablation;
        this.engines.push(new PatchingEngine(model, rows(clean), ab, { splitEmbed: opts.splitEmbed, attribution: opts.attribution, positions: opts.positions ? rows(opts.positions) : undefined }));
        this.offsets.push(s);
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get layout(): PatchLayout { return this.engines[0].layout; }
  get skipDead(): boolean { return this.engines[0].skipDead; }
  set skipDead(v: boolean) { for (const e of this.engines) e.skipDead = v; }
  get stats(): EngineStats {
    const s = { runs: 0, circuits: 0, flops: 0 };
    for (const e of this.engines) { s.runs += e.stats.runs; s.circuits += e.stats.circuits; s.flops += e.stats.flops; }
    return s;
  }
  fullMask(): Float32Array { return this.engines[0].fullMask(); }
  stageOfRow(r: number): number { return this.engines[0].stageOfRow(r); }
  firstRowOfStage(stage: number): number { return this.engines[0].firstRowOfStage(stage); }
  fullForwardFlops(): number { return this.engines.reduce((a, e) => a + e.fullForwardFlops(), 0); }

  cleanLogits(): tf.Tensor3D {
    const outs = this.engines.map((e) => e.cleanLogits());
    try {
      return outs.length === 1 ? outs.pop()! : (tf.concat(outs, 0) as tf.Tensor3D);
    } finally {
      tf.dispose(outs);
    }
  }

  run(masks: Float32Array[], opts: { from?: { dispose(): void } } = {}): tf.Tensor4D {
    const from = opts.from as ChunkPrefix | undefined;
    const outs: tf.Tensor4D[] = [];
    try {
      this.engines.forEach((e, i) => outs.push(e.run(masks, from ? { from: from.parts[i] } : {})));
      return outs.length === 1 ? outs.pop()! : (tf.concat(outs, 1) as tf.Tensor4D);
    } finally {
      tf.dispose(outs);
    }
  }

  prefix(mask: Float32Array, stage: number): ChunkPrefix {
    const parts: Prefix[] = [];
    try {
      for (const e of this.engines) parts.push(e.prefix(mask, stage));
    } catch (err) {
      for (const p of parts) p.dispose();
      throw err;
    }
    return new ChunkPrefix(parts);
  }

  dispose(): void { for (const e of this.engines) e.dispose(); this.engines.length = 0; }
}
