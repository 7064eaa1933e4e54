/**
 * A worker thread of WorkerPool (./pool.ts), whatever the platform: its own tfjs backend and copy
 * of the model, and the engines of its share of the prompts, addressed by id. Messages
 * (protocol.ts) are handled one after another in arrival order; a request (`reply` set) gets one
 * reply. Errors of messages without a reply are reported with the next reply. The entry points
 * are Node's ./worker.ts and the browser app's web/engine-thread.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/transformer.js';
import { hostTensor, type StateDict } from '../model/weights.js';
import { ChunkedEngine } from '../patching/chunked.js';
import { makeObjective } from '../patching/objective.js';
import { getTask } from '../tasks/registry.js';
import { customTaskFromText } from '../tasks/custom.js';
import { taskWithCorruption } from '../tasks/ioi/corruption.js';
import type { Task } from '../tasks/types.js';
import type { AttributionReply, HostArray, MaskGradientReply, RunReply, TaskSpec, WorkerInit, WorkerMessage, WorkerReply } from './protocol.js';
import type { Objective } from '../patching/objective.js';

/** What differs between platforms: the backend's start, reading a custom task file (Node), the port. */
export interface WorkerHost {
  initBackend(name: string): Promise<unknown>;
  /** a custom task file by path (TaskSpec.data); absent where there is no file system */
  loadTaskFile?(path: string): Task;
  onMessage(cb: (m: WorkerMessage) => void): void;
  post(reply: WorkerReply, transfer: ArrayBuffer[]): void;
}

/** The task a spec names: registered, a custom task's JSON text, or (Node) a custom task file; with its corruption. */
function taskOf(spec: TaskSpec, host: WorkerHost): Task {
  let task: Task;
  if (spec.text !== undefined) task = customTaskFromText(spec.text, spec.name ?? 'custom task');
  else if (spec.data !== undefined) {
    if (!host.loadTaskFile) throw new Error(`custom task file ${spec.data}: no file system in this worker (send the task's text)`);
    task = host.loadTaskFile(spec.data);
  } else task = getTask(spec.task!);
  return taskWithCorruption(task, spec.corrupt);
}

/** Build the backend, the model and the task of `init`, then answer messages from `host` until the thread ends. */
export async function serveEngine(init: WorkerInit, host: WorkerHost): Promise<void> {
  const engines = new Map<number, ChunkedEngine>();
  const prefixes = new Map<number, { dispose(): void }>();
  let deferred: string | null = null;

  await host.initBackend(init.backend);
  const sd: StateDict = new Map(init.weights.map(([k, shape, data]) => [k, hostTensor(shape, data)]));
  const model = HookedTransformer.fromStateDict(init.cfg, sd, { source: 'worker', processing: init.processing });
  const task: Task | null = init.task ? taskOf(init.task, host) : null;

  /** A copy of a tensor's values (the backend's own buffer may be shared: the copy is what gets transferred). */
  const hostArray = async (t: tf.Tensor): Promise<HostArray> => ({ shape: [...t.shape], data: Float32Array.from(await t.data() as Float32Array) });

  /** What `run` and `clean` reply: the logits (freed here) and the engine's counters. */
  const logitsReply = async (e: ChunkedEngine, logits: tf.Tensor): Promise<RunReply> => {
    try { return { logits: await hostArray(logits), stats: e.stats }; } finally { logits.dispose(); }
  };

  /** Free and forget an engine or prefix (unknown ids are ignored: freeing twice is harmless). */
  const drop = (map: Map<number, { dispose(): void }>, id: number): null => {
    map.get(id)?.dispose();
    map.delete(id);
    return null;
  };

  const engine = (id: number): ChunkedEngine => {
    const e = engines.get(id);
    if (!e) throw new Error(`no engine ${id}`);
    return e;
  };

  /** The objective of a request's rows, rebuilt from its kind, batch and clean logits (the caller disposes it). */
  const objectiveOf = (m: Extract<WorkerMessage, { op: 'attribution' | 'maskGradient' }>): Objective => {
    if (!task) throw new Error(`${m.op === 'attribution' ? 'attribution needs' : 'mask gradients need'} the task in the worker (start the pool with a task spec)`);
    const clean = tf.tensor3d(m.cleanLogits.data, m.cleanLogits.shape as [number, number, number]);
    try { return makeObjective(m.metric, task, m.batch, clean); } finally { clean.dispose(); }
  };

  const handle = async (m: WorkerMessage): Promise<unknown> => {
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
  };

  const answer = async (m: WorkerMessage): Promise<void> => {
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
    host.post(reply, transfer);
  };

  // one message at a time, in arrival order (handlers await reads)
  let queue = Promise.resolve();
  host.onMessage((m) => { queue = queue.then(() => answer(m)); });
}
