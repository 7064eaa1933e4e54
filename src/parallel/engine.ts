/**
 * The edge-masked forward with the prompts split across threads: the main thread runs the first
 * rows, each worker of the pool (./pool.ts) the next share, at the same time; logits are joined
 * along the batch axis, so every metric is the whole batch's, as with ChunkedEngine (each
 * thread's share is itself chunked by `batchSize`). The main thread's share is a ChunkedEngine
 * over rows 0 .. local.rows, so attribution reuses it chunk by chunk; the workers' shares do
 * their own attribution (`attribution`).
 */
import * as tf from '@tensorflow/tfjs';
import type { HookedTransformer } from '../model/transformer.js';
import { PatchingEngine, type EngineOptions } from '../patching/engine.js';
import { ChunkedEngine, rowWeightedMean } from '../patching/chunked.js';
import { rowsThatFit, type Backward } from '../patching/budget.js';
import type { Attribution, CircuitEvaluator, EngineStats, MaskGradient, RunOptions } from '../patching/evaluator.js';
import { ablationRows, type Ablation } from '../patching/ablation.js';
import { sliceBatch, type Objective } from '../patching/objective.js';
import { fullMask, type PatchLayout } from '../graph/layout.js';
import type { Interpolation } from '../patching/attribution.js';
import type { WorkerPool } from './pool.js';
import type { AttributionReply, HostArray, MaskGradientReply, RunReply, WorkerMessage } from './protocol.js';

let nextId = 1;

/**
 * The edge-masked forward for a batch as discovery and evaluation build it: split across the
 * pool's threads when there is a pool with workers (and more than one row), else chunked when
 * `batchSize` is below the batch, else one PatchingEngine. `streaming` (chunked shares): hold
 * one chunk's engine at a time. `backward`: the gradient the caller will take besides forwards,
 * which the chunks must fit when no `batchSize` is given.
 */
export function circuitEvaluator(model: HookedTransformer, clean: number[][], ablation: Ablation, opts: EngineOptions & { batchSize?: number; streaming?: boolean; pool?: WorkerPool; backward?: Backward }): CircuitEvaluator {
  const { pool, streaming, backward, ...engineOpts } = opts;
  const N = clean.length;
  // no --batch-size: chunk only what does not fit (same numbers either way)
  const batchSize = opts.batchSize ?? rowsThatFit(model.cfg, clean[0]?.length ?? 0, pool && pool.size > 0 ? Math.ceil(N / (pool.size + 1)) : N, backward);
  if (pool && pool.size > 0 && N > 1) return new ParallelEngine(pool, model, clean, ablation, { ...engineOpts, batchSize, streaming });
  if (batchSize !== undefined && batchSize < N) return new ChunkedEngine(model, clean, ablation, { ...engineOpts, batchSize, streaming });
  return new PatchingEngine(model, clean, ablation, engineOpts);
}

class ParallelPrefix {
  constructor(readonly local: { dispose(): void }, readonly pid: number, private readonly owner: ParallelEngine) {}
  dispose(): void { this.local.dispose(); this.owner.freePrefix(this.pid); }
}

function tensorOf(h: HostArray): tf.Tensor { return tf.tensor(h.data, h.shape); }

export class ParallelEngine implements CircuitEvaluator {
  readonly layout: PatchLayout;
  /** the main thread's share: rows 0 .. sizes[0] */
  readonly local: ChunkedEngine;
  /** first row and row count of each thread's share (main thread first) */
  readonly offsets: number[] = [];
  readonly sizes: number[] = [];
  private readonly id = nextId++;
  private readonly remoteStats: EngineStats[] = [];
  private disposed = false;

  /** Workers build their shares' engines in the background (their errors come with the first reply). */
  constructor(private readonly pool: WorkerPool, model: HookedTransformer, clean: number[][], ablation: Ablation, opts: EngineOptions & { batchSize?: number; streaming?: boolean }) {
    const N = clean.length;
    const threads = Math.min(N, pool.size + 1);
    for (let t = 0, s = 0; t < threads; t++) {
      const n = Math.floor(N / threads) + (t < N % threads ? 1 : 0);
      this.offsets.push(s); this.sizes.push(n); s += n;
    }
    const rows = (t: number, x: number[][]) => x.slice(this.offsets[t], this.offsets[t] + this.sizes[t]);
    const share = (t: number) => ({
      ablation: ablationRows(ablation, this.offsets[t], this.offsets[t] + this.sizes[t]),
      positions: opts.positions ? rows(t, opts.positions) : undefined,
      batchSize: Math.min(opts.batchSize ?? this.sizes[t], this.sizes[t]),
    });
    for (let w = 0; w < this.workers; w++) {
      const s = share(w + 1);
      pool.post(w, { op: 'engine', id: this.id, clean: rows(w + 1, clean), ablation: s.ablation, splitEmbed: opts.splitEmbed ?? false, positions: s.positions, attribution: opts.attribution ?? false, batchSize: s.batchSize, streaming: opts.streaming ?? false });
    }
    const s = share(0);
    this.local = new ChunkedEngine(model, rows(0, clean), s.ablation, { splitEmbed: opts.splitEmbed, attribution: opts.attribution, positions: s.positions, batchSize: s.batchSize, streaming: opts.streaming });
    this.layout = this.local.layout;
  }

  /** Workers holding a share. */
  private get workers(): number { return this.sizes.length - 1; }

  /** Requests to every worker with a share, the local part meanwhile; replies in worker order. */
  private async each<T, L>(msg: (w: number) => WorkerMessage, local: () => L | Promise<L>): Promise<{ local: L; remote: T[] }> {
    const r = await this.pool.all<T, L>((w) => (w < this.workers ? msg(w) : null), local);
    return { local: r.local, remote: r.remote.slice(0, this.workers) as T[] };
  }

  private joined(local: tf.Tensor, remote: RunReply[], axis: number): tf.Tensor {
    remote.forEach((r, w) => { this.remoteStats[w] = r.stats; });
    if (remote.length === 0) return local;
    const parts = [local, ...remote.map((r) => tensorOf(r.logits))];
    try { return tf.concat(parts, axis); } finally { tf.dispose(parts); }
  }

  get skipDead(): boolean { return this.local.skipDead; }
  set skipDead(v: boolean) {
    this.local.skipDead = v;
    for (let w = 0; w < this.workers; w++) this.pool.post(w, { op: 'skipDead', id: this.id, value: v });
  }

  get stats(): EngineStats {
    const s = { ...this.local.stats };
    for (const r of this.remoteStats) if (r) { s.runs += r.runs; s.circuits += r.circuits; s.flops += r.flops; }
    return s;
  }

  fullMask(): Float32Array { return fullMask(this.layout); }
  /** the main thread's share is the largest (shares differ by at most a row), chunked alike in every thread */
  get maxCircuits(): number { return this.local.maxCircuits; }
  stageOfRow(r: number): number { return this.local.stageOfRow(r); }
  firstRowOfStage(stage: number): number { return this.local.firstRowOfStage(stage); }
  /** A naive forward of the whole batch: the local share's scaled to every row (same length). */
  fullForwardFlops(): number { return this.local.fullForwardFlops() * this.sizes.reduce((a, b) => a + b, 0) / this.sizes[0]; }

  async cleanLogits(): Promise<tf.Tensor3D> {
    const { local, remote } = await this.each<RunReply, tf.Tensor3D>(() => ({ op: 'clean', id: this.id }), () => this.local.cleanLogits());
    return this.joined(local, remote, 0) as tf.Tensor3D;
  }

  async run(masks: Float32Array[], opts: RunOptions = {}): Promise<tf.Tensor4D> {
    const from = opts.from as ParallelPrefix | undefined;
    const { local, remote } = await this.each<RunReply, tf.Tensor4D>(
      () => ({ op: 'run', id: this.id, masks, from: from?.pid, separately: opts.separately }),
      () => this.local.run(masks, { from: from?.local, separately: opts.separately }));
    return this.joined(local, remote, 1) as tf.Tensor4D;
  }

  async prefix(mask: Float32Array, stage: number): Promise<{ dispose(): void }> {
    const pid = nextId++;
    const { local } = await this.each<null, { dispose(): void }>(() => ({ op: 'prefix', id: this.id, pid, mask, stage }), () => this.local.prefix(mask, stage));
    return new ParallelPrefix(local, pid, this);
  }

  /** @internal */
  freePrefix(pid: number): void {
    if (this.disposed) return;
    for (let w = 0; w < this.workers; w++) this.pool.post(w, { op: 'freePrefix', pid });
  }

  /**
   * Each thread attributes its share (the workers rebuild the objective from its kind, their
   * rows of the batch and of the clean logits); the shares' row means are weighted by their
   * rows. Seconds: the slowest thread's (they overlap).
   */
  async attribute(objective: Objective, alphas: number[], onChunk?: (done: number, total: number) => void, interpolate: Interpolation = 'inputs'): Promise<Attribution> {
    const r = await this.splitObjective<AttributionReply, Attribution>(objective, 'attribution',
      (batch, cleanLogits) => ({ op: 'attribution', id: this.id, metric: objective.kind, alphas, interpolate, batch, cleanLogits }),
      (mine) => this.local.attribute(mine, alphas, onChunk, interpolate));
    const seconds = Math.max(r.local.seconds, ...r.remote.map((x) => x.seconds));
    return { grad: this.rowMean([r.local, ...r.remote].map((x) => x.grad)), seconds };
  }

  /**
   * Each thread's value and mask gradient for its share (the workers rebuild the objective as
   * for attribution), weighted by rows. Learned-mask methods call this every step with the same
   * objective: its workers' rows of the clean logits are read once (`workerCleanRows`).
   */
  async maskGradient(objective: Objective, mask: Float32Array): Promise<MaskGradient> {
    const r = await this.splitObjective<MaskGradientReply, MaskGradient>(objective, 'mask gradient',
      (batch, cleanLogits) => ({ op: 'maskGradient', id: this.id, metric: objective.kind, mask, batch, cleanLogits }),
      (mine) => this.local.maskGradient(mine, mask));
    const all = [r.local, ...r.remote];
    const N = this.sizes.reduce((a, b) => a + b, 0);
    const value = all.reduce((a, x, t) => a + (this.sizes[t] / N) * x.value, 0);
    return { value, grad: this.rowMean(all.map((x) => x.grad)) };
  }

  /**
   * The frame of a call on an objective's rows (attribution, mask gradient): the workers get
   * their rows of its batch and clean logits (`request`, the objective rebuilt there from the
   * pool's task spec), this thread runs `local` on its own rows, at the same time.
   */
  private async splitObjective<R extends { stats: EngineStats }, L>(objective: Objective, what: string, request: (batch: Objective['batch'], cleanLogits: HostArray) => WorkerMessage, local: (mine: Objective) => Promise<L>): Promise<{ local: L; remote: R[] }> {
    if (this.workers > 0 && !this.pool.task) throw new Error(`parallel ${what}: the worker pool was started without a task spec`);
    const cleanRows = await this.workerCleanRows(objective);
    const mine = objective.rows(0, this.sizes[0]);
    let r: { local: L; remote: R[] };
    try {
      r = await this.each<R, L>((w) => {
        const s = this.offsets[w + 1], e = s + this.sizes[w + 1];
        return request(sliceBatch(objective.batch, s, e), cleanRows[w]);
      }, () => local(mine));
    } finally {
      mine.dispose();
    }
    r.remote.forEach((x, w) => { this.remoteStats[w] = x.stats; });
    return r;
  }

  /** The row-weighted mean of the threads' gradients (this thread's first). */
  private rowMean(grads: Float64Array[]): Float64Array {
    return rowWeightedMean(grads.map((grad, t) => ({ grad, rows: this.sizes[t] })));
  }

  /** The objective whose workers' clean rows are cached, and those rows (one read per objective). */
  private cleanRowsOf: { objective: Objective; rows: Promise<HostArray[]> } | null = null;

  /** Each worker's rows of the objective's clean logits, as host arrays. */
  private workerCleanRows(objective: Objective): Promise<HostArray[]> {
    if (this.cleanRowsOf?.objective !== objective) {
      const rows = Promise.all(this.offsets.slice(1).map(async (s, w) => {
        const cl = tf.slice(objective.clean, [s, 0, 0], [this.sizes[w + 1], -1, -1]);
        try { return { shape: [...cl.shape], data: await cl.data() as Float32Array }; } finally { cl.dispose(); }
      }));
      this.cleanRowsOf = { objective, rows };
    }
    return this.cleanRowsOf.rows;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.cleanRowsOf = null;
    this.local.dispose();
    for (let w = 0; w < this.workers; w++) {
      try { this.pool.post(w, { op: 'freeEngine', id: this.id }); } catch { /* pool closed: the workers are gone */ }
    }
  }
}
