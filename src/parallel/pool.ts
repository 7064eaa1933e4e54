/**
 * Worker threads over the machine's cores. tfjs' wasm backend runs single-threaded in Node, so
 * a second core only helps through a second tfjs instance: each worker thread holds its own
 * backend and its own copy of the model (rebuilt from `model.stateDict()`), and the prompts are
 * split between the main thread and the workers (ParallelEngine, ./engine.ts).
 *
 * Calls are synchronous on the main thread, so the discovery code stays synchronous: a request
 * is posted on a MessageChannel, the main thread does its own share, then blocks on an
 * Atomics.wait over a shared counter that the worker bumps after posting its reply, and takes
 * the reply with `receiveMessageOnPort`. Startup is asynchronous (`WorkerPool.start`): loading
 * the worker's modules needs the main thread's event loop (the TypeScript loader under tests).
 */
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import type { HookedTransformer } from '../model/transformer.js';

/** How a worker rebuilds the task (for attribution, whose metric runs in the worker). */
export interface TaskSpec { task?: string; data?: string; corrupt?: string }

export interface WorkerInit {
  backend: string;
  cfg: HookedTransformer['cfg'];
  weights: [string, readonly number[], Float32Array][];
  processing: string[];
  task: TaskSpec | null;
  counter: SharedArrayBuffer;
  port: MessagePort;
}

export type WorkerReply = { ok: true; value: unknown } | { ok: false; error: string };

interface Slot { worker: Worker; port: MessagePort; counter: Int32Array; expected: number; received: number }

export class WorkerPool {
  private closed = false;
  private constructor(private readonly slots: Slot[], readonly task: TaskSpec | null) {}

  /** Threads besides the main one. */
  get size(): number { return this.slots.length; }

  /**
   * Start `threads - 1` workers (the main thread is the first), each with the model and the
   * backend of this thread. Resolves when every worker has built its model.
   */
  static async start(model: HookedTransformer, opts: { threads: number; backend: string; task?: TaskSpec }): Promise<WorkerPool> {
    const n = Math.floor(opts.threads) - 1;
    if (!(n >= 0)) throw new Error(`--workers must be a positive integer, got ${opts.threads}`);
    const weights = [...model.stateDict()].map(([k, h]) => [k, h.shape, h.data] as [string, readonly number[], Float32Array]);
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const counter = new SharedArrayBuffer(4);
        const { port1, port2 } = new MessageChannel();
        const init: WorkerInit = { backend: opts.backend === 'tensorflow' ? 'node' : opts.backend, cfg: model.cfg, weights, processing: [...model.processing], task: opts.task ?? null, counter, port: port2 };
        const worker = spawn(init, [port2]);
        slots.push({ worker, port: port1, counter: new Int32Array(counter), expected: 0, received: 0 });
      }
      await Promise.all(slots.map((s, i) => new Promise<void>((resolve, reject) => {
        s.worker.once('message', (m: WorkerReply) => (m.ok ? resolve() : reject(new Error(`worker ${i + 1}: ${m.error}`))));
        s.worker.once('error', (e) => reject(new Error(`worker ${i + 1} failed to start: ${e.message}`)));
        s.worker.once('exit', (code) => reject(new Error(`worker ${i + 1} exited during startup (code ${code})`)));
      })));
    } catch (e) {
      for (const s of slots) void s.worker.terminate();
      throw e;
    }
    for (const s of slots) { s.worker.removeAllListeners(); s.worker.unref(); s.port.unref(); }
    return new WorkerPool(slots, opts.task ?? null);
  }

  /** Post a message that gets no reply (processed in order with the others). */
  post(w: number, msg: object, transfer: TransferListItem[] = []): void {
    this.slot(w).port.postMessage(msg, transfer);
  }

  /** Post a request; `wait(w)` returns its reply. One request per worker may be outstanding. */
  request(w: number, msg: object, transfer: TransferListItem[] = []): void {
    const s = this.slot(w);
    if (s.expected !== s.received) throw new Error(`worker ${w + 1}: a request is already outstanding`);
    s.expected++;
    s.port.postMessage({ ...msg, reply: true }, transfer);
  }

  /** Block until worker w's reply to its outstanding request; throws the worker's error. */
  wait<T>(w: number): T {
    const s = this.slot(w);
    if (s.expected === s.received) throw new Error(`worker ${w + 1}: no outstanding request`);
    for (;;) {
      if (Atomics.load(s.counter, 0) >= s.expected) {
        const m = receiveMessageOnPort(s.port);
        if (m) {
          s.received++;
          const r = m.message as WorkerReply;
          if (!r.ok) throw new Error(`worker ${w + 1}: ${r.error}`);
          return r.value as T;
        }
      }
      Atomics.wait(s.counter, 0, s.expected - 1, 250);
      if (s.worker.threadId === -1) throw new Error(`worker ${w + 1} died (out of memory, or a crash in the backend)`);
    }
  }

  /** Send each worker its request (`msg(w)`), run `local` meanwhile, then collect the replies. */
  all<T, L>(msg: (w: number) => { msg: object; transfer?: TransferListItem[] } | null, local: () => L): { local: L; remote: (T | undefined)[] } {
    const asked: boolean[] = [];
    for (let w = 0; w < this.size; w++) {
      const m = msg(w);
      asked.push(m !== null);
      if (m) this.request(w, m.msg, m.transfer);
    }
    let out: L;
    try {
      out = local();
    } catch (e) {
      // drain the replies so the pool stays usable
      for (let w = 0; w < this.size; w++) if (asked[w]) { try { this.wait(w); } catch { /* the local error wins */ } }
      throw e;
    }
    const remote: (T | undefined)[] = [];
    let err: unknown = null;
    for (let w = 0; w < this.size; w++) {
      if (!asked[w]) { remote.push(undefined); continue; }
      try { remote.push(this.wait<T>(w)); } catch (e) { err ??= e; remote.push(undefined); }
    }
    if (err) throw err;
    return { local: out, remote };
  }

  private slot(w: number): Slot {
    if (this.closed) throw new Error('worker pool: used after close()');
    const s = this.slots[w];
    if (!s) throw new Error(`worker pool: no worker ${w + 1} (pool of ${this.size})`);
    return s;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) { s.port.close(); void s.worker.terminate(); }
  }
}

/** The worker module: compiled JavaScript, or (tests, tsx) its TypeScript source through tsx. */
function spawn(init: WorkerInit, transfer: TransferListItem[]): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const entry = new URL('./worker.ts', self).href;
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, workerData: init, transferList: transfer });
  }
  return new Worker(fileURLToPath(new URL('./worker.js', self)), { workerData: init, transferList: transfer });
}
