/**
 * The messages between the main thread (WorkerPool, ParallelEngine) and a worker thread
 * (worker.ts): one protocol, as promises on both sides (docs/patching.md "Chunks, threads and reads"). A request carries an id;
 * the worker handles messages in order and answers each request with one reply.
 */
import type { ModelConfig } from '../model/config.js';
import type { Ablation } from '../patching/ablation.js';
import type { EngineStats } from '../patching/evaluator.js';
import type { MetricKind } from '../patching/objective.js';
import type { Interpolation } from '../patching/attribution.js';
import type { TaskBatch } from '../tasks/types.js';

/**
 * How a worker rebuilds the task (for attribution and mask gradients, whose metric runs in the
 * worker): a registered task's name, a custom task's JSON `text` (named `name` in messages), or
 * (Node) the path of a custom task file in `data`; and the IOI corruption, if any.
 */
export interface TaskSpec { task?: string; data?: string; text?: string; name?: string; corrupt?: string }

/** What a worker starts with (its workerData). */
export interface WorkerInit {
  backend: string;
  cfg: ModelConfig;
  weights: [string, readonly number[], Float32Array][];
  processing: string[];
  task: TaskSpec | null;
}

/** Logits or other tensors as they cross threads. */
export interface HostArray { shape: number[]; data: Float32Array }

export type WorkerMessage = { reply?: number } & (
  | { op: 'engine'; id: number; clean: number[][]; ablation: Ablation; splitEmbed: boolean; positions?: number[][]; attribution: boolean; batchSize: number; streaming: boolean }
  | { op: 'run'; id: number; masks: Float32Array[]; from?: number; separately?: boolean }
  | { op: 'prefix'; id: number; pid: number; mask: Float32Array; stage: number }
  | { op: 'freePrefix'; pid: number }
  | { op: 'clean'; id: number }
  | { op: 'skipDead'; id: number; value: boolean }
  | { op: 'freeEngine'; id: number }
  | { op: 'attribution'; id: number; metric: MetricKind; alphas: number[]; interpolate: Interpolation; batch: TaskBatch; cleanLogits: HostArray }
  | { op: 'maskGradient'; id: number; metric: MetricKind; mask: Float32Array; batch: TaskBatch; cleanLogits: HostArray }
);

/** A worker's answer to the request numbered `reply`. */
export type WorkerReply = { reply: number } & ({ ok: true; value: unknown } | { ok: false; error: string });

/** What `run` and `clean` return: logits and the engine's counters. */
export interface RunReply { logits: HostArray; stats: EngineStats }

/** What `attribution` returns: the share's row-mean gradient, its seconds and counters. */
export interface AttributionReply { grad: Float64Array; seconds: number; stats: EngineStats }

/** What `maskGradient` returns: the share's row-mean objective and mask gradient, and counters. */
export interface MaskGradientReply { value: number; grad: Float64Array; stats: EngineStats }
