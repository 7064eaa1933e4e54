/**
 * A worker thread of WorkerPool (./pool.ts): its own tfjs backend and copy of the model, and the
 * patching engines of its share of the prompts, addressed by id. Every message is handled in
 * order; a message with `reply` gets one reply, after which the shared counter is bumped and
 * notified (the main thread blocks on it). Errors of messages without a reply are reported
 * with the next reply.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../model/backend.js';
import { HookedTransformer } from '../model/transformer.js';
import { hostTensor, type StateDict } from '../model/weights.js';
import { ChunkedEngine } from '../patching/chunked.js';
import type { Ablation } from '../patching/ablation.js';
import { chunkObjectives } from '../discovery/run.js';
import { attributionStep, gradientSum } from '../discovery/eap.js';
import type { MetricKind } from '../patching/objective.js';
import { getTask } from '../tasks/registry.js';
import { loadCustomTask } from '../tasks/custom.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import { taskWithCorruption } from '../tasks/ioi/corruption.js';
import type { WorkerInit, WorkerReply } from './pool.js';

/** Logits or other tensors as they cross threads. */
export interface HostArray { shape: number[]; data: Float32Array }

export type WorkerMessage = { reply?: boolean } & (
  | { op: 'engine'; id: number; clean: number[][]; ablation: Ablation; splitEmbed: boolean; positions?: number[][]; attribution: boolean; batchSize: number; streaming: boolean }
  | { op: 'run'; id: number; masks: Float32Array[]; from?: number; separately?: boolean }
  | { op: 'prefix'; id: number; pid: number; mask: Float32Array; stage: number }
  | { op: 'freePrefix'; pid: number }
  | { op: 'clean'; id: number }
  | { op: 'skipDead'; id: number; value: boolean }
  | { op: 'freeEngine'; id: number }
  | { op: 'attribution'; id: number; metric: MetricKind; alphas: number[]; batch: TaskBatch; cleanLogits: HostArray; total: number }
);

/** What `run` and `clean` return: logits and the engine's counters. */
export interface RunReply { logits: HostArray; stats: { runs: number; circuits: number; flops: number } }

const init = workerData as WorkerInit;
const engines = new Map<number, ChunkedEngine>();
const prefixes = new Map<number, { dispose(): void }>();
let deferred: string | null = null;
let model: HookedTransformer;
let task: Task | null = null;

/** A copy (the backend's own buffer may be shared: the copy is what gets transferred). */
function host(t: tf.Tensor): HostArray {
  return { shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) };
}

/** What `run` and `clean` reply: the logits (freed here) and the engine's counters. */
function logitsReply(e: ChunkedEngine, logits: tf.Tensor): RunReply {
  try { return { logits: host(logits), stats: e.stats }; } finally { logits.dispose(); }
}

/** Free and forget an engine or prefix (unknown ids are ignored: freeing twice is harmless). */
function drop(map: Map<number, { dispose(): void }>, id: number): null {
  map.get(id)?.dispose();
  map.delete(id);
  return null;
}

function engine(id: number): ChunkedEngine {
  const e = engines.get(id);
  if (!e) throw new Error(`no engine ${id}`);
  return e;
}

function handle(m: WorkerMessage): unknown {
  switch (m.op) {
    case 'engine': {
      const e = new ChunkedEngine(model, m.clean, m.ablation, { splitEmbed: m.splitEmbed, positions: m.positions, attribution: m.attribution, batchSize: m.batchSize, streaming: m.streaming });
      engines.set(m.id, e);
      return null;
    }
    case 'run': {
      const e = engine(m.id);
      const from = m.from === undefined ? undefined : prefixes.get(m.from);
      if (m.from !== undefined && !from) throw new Error(`no prefix ${m.from}`);
      return logitsReply(e, e.run(m.masks, { from, separately: m.separately }));
    }
    case 'prefix':
      prefixes.set(m.pid, engine(m.id).prefix(m.mask, m.stage));
      return null;
    case 'freePrefix':
      return drop(prefixes, m.pid);
    case 'clean': {
      const e = engine(m.id);
      return logitsReply(e, e.cleanLogits());
    }
    case 'skipDead':
      engine(m.id).skipDead = m.value;
      return null;
    case 'freeEngine':
      return drop(engines, m.id);
    case 'attribution': {
      if (!task) throw new Error('attribution needs the task in the worker (start the pool with a task spec)');
      const e = engine(m.id);
      const clean = tf.tensor3d(m.cleanLogits.data, m.cleanLogits.shape as [number, number, number]);
      const timing = { seconds: 0 };
      try {
        const parts = chunkObjectives(e, m.metric, task, m.batch, clean, m.total);
        const data = gradientSum(parts, attributionStep(m.alphas), timing);
        return { data, seconds: timing.seconds, stats: e.stats };
      } finally {
        clean.dispose();
      }
    }
  }
}

async function main(): Promise<void> {
  const port = init.port;
  const counter = new Int32Array(init.counter);
  await initBackend(init.backend as BackendName);
  const sd: StateDict = new Map(init.weights.map(([k, shape, data]) => [k, hostTensor(shape, data)]));
  model = HookedTransformer.fromStateDict(init.cfg, sd, { source: 'worker', processing: init.processing });
  if (init.task) task = taskWithCorruption(init.task.data ? loadCustomTask(init.task.data) : getTask(init.task.task!), init.task.corrupt);
  port.on('message', (m: WorkerMessage) => {
    let reply: WorkerReply;
    try {
      const value = handle(m);
      if (deferred) { const d = deferred; deferred = null; throw new Error(d); }
      reply = { ok: true, value };
    } catch (e) {
      reply = { ok: false, error: (e as Error).message ?? String(e) };
    }
    if (!m.reply) {
      if (!reply.ok) deferred ??= reply.error;
      return;
    }
    const v = reply.ok ? reply.value as { logits?: HostArray; data?: Float64Array } | null : null;
    const transfer = [v?.logits?.data.buffer, v?.data?.buffer].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
    port.postMessage(reply, transfer);
    Atomics.add(counter, 0, 1);
    Atomics.notify(counter, 0);
  });
}

main().then(
  () => parentPort!.postMessage({ ok: true, value: null } satisfies WorkerReply),
  (e: Error) => parentPort!.postMessage({ ok: false, error: e.message } satisfies WorkerReply),
);
