/**
 * A worker thread of WorkerPool (./pool.ts): its own tfjs backend and copy of the model, and the
 * engines of its share of the prompts, addressed by id. Messages (protocol.ts) are handled one
 * after another in arrival order; a request (`reply` set) gets one reply. Errors of messages
 * without a reply are reported with the next reply.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../model/backend.js';
import { HookedTransformer } from '../model/transformer.js';
import { hostTensor, type StateDict } from '../model/weights.js';
import { ChunkedEngine } from '../patching/chunked.js';
import { makeObjective } from '../patching/objective.js';
import { getTask } from '../tasks/registry.js';
import { loadCustomTask } from '../tasks/custom-file.js';
import { taskWithCorruption } from '../tasks/ioi/corruption.js';
import type { Task } from '../tasks/types.js';
import type { AttributionReply, HostArray, MaskGradientReply, RunReply, WorkerInit, WorkerMessage, WorkerReply } from './protocol.js';
import type { Objective } from '../patching/objective.js';

const init = workerData as WorkerInit & { port: MessagePort };
const engines = new Map<number, ChunkedEngine>();
const prefixes = new Map<number, { dispose(): void }>();
let deferred: string | null = null;
let model: HookedTransformer;
let task: Task | null = null;

/** A copy of a tensor's values (the backend's own buffer may be shared: the copy is what gets transferred). */
async function host(t: tf.Tensor): Promise<HostArray> {
  return { shape: [...t.shape], data: Float32Array.from(await t.data() as Float32Array) };
}

/** What `run` and `clean` reply: the logits (freed here) and the engine's counters. */
async function logitsReply(e: ChunkedEngine, logits: tf.Tensor): Promise<RunReply> {
  try { return { logits: await host(logits), stats: e.stats }; } finally { logits.dispose(); }
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

async function handle(m: WorkerMessage): Promise<unknown> {
  switch (m.op) {
    case 'engine':
      engines.set(m.id, new ChunkedEngine(model, m.clean, m.ablation, { splitEmbed: m.splitEmbed, positions: m.positions, attribution: m.attribution, batchSize: m.batchSize, streaming: m.streaming }));
      return null;
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
      const e = engine(m.id);
      const objective = objectiveOf(m);
      try {
        const r = await e.attribute(objective, m.alphas, undefined, m.interpolate);
        return { grad: r.grad, seconds: r.seconds, stats: e.stats } satisfies AttributionReply;
      } finally {
        objective.dispose();
      }
    }
    case 'maskGradient': {
      const e = engine(m.id);
      const objective = objectiveOf(m);
      try {
        const r = await e.maskGradient(objective, m.mask);
        return { value: r.value, grad: r.grad, stats: e.stats } satisfies MaskGradientReply;
      } finally {
        objective.dispose();
      }
    }
  }
}

/** The objective of a request's rows, rebuilt from its kind, batch and clean logits (the caller disposes it). */
function objectiveOf(m: Extract<WorkerMessage, { op: 'attribution' | 'maskGradient' }>): Objective {
  if (!task) throw new Error(`${m.op === 'attribution' ? 'attribution needs' : 'mask gradients need'} the task in the worker (start the pool with a task spec)`);
  const clean = tf.tensor3d(m.cleanLogits.data, m.cleanLogits.shape as [number, number, number]);
  try { return makeObjective(m.metric, task, m.batch, clean); } finally { clean.dispose(); }
}

async function answer(port: MessagePort, m: WorkerMessage): Promise<void> {
  let reply: WorkerReply;
  try {
    const value = await handle(m);
    if (deferred) { const d = deferred; deferred = null; throw new Error(d); }
    reply = { reply: m.reply ?? 0, ok: true, value };
  } catch (e) {
    reply = { reply: m.reply ?? 0, ok: false, error: (e as Error).message ?? String(e) };
  }
  if (m.reply === undefined) {
    if (!reply.ok) deferred ??= reply.error;
    return;
  }
  const v = reply.ok ? reply.value as { logits?: HostArray; grad?: Float64Array } | null : null;
  const transfer = [v?.logits?.data.buffer, v?.grad?.buffer].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  port.postMessage(reply, transfer);
}

async function main(): Promise<void> {
  await initBackend(init.backend as BackendName);
  const sd: StateDict = new Map(init.weights.map(([k, shape, data]) => [k, hostTensor(shape, data)]));
  model = HookedTransformer.fromStateDict(init.cfg, sd, { source: 'worker', processing: init.processing });
  if (init.task) task = taskWithCorruption(init.task.data ? loadCustomTask(init.task.data) : getTask(init.task.task!), init.task.corrupt);
  // one message at a time, in arrival order (handlers await reads)
  let queue = Promise.resolve();
  init.port.on('message', (m: WorkerMessage) => { queue = queue.then(() => answer(init.port, m)); });
}

main().then(
  () => parentPort!.postMessage({ ok: true }),
  (e: Error) => parentPort!.postMessage({ ok: false, error: e.message }),
);
