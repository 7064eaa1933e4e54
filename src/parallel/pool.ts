/**
 * Worker threads over the machine's cores. tfjs' wasm backend runs single-threaded in Node, so
 * a second core only helps through a second tfjs instance: each worker thread holds its own
 * backend and its own copy of the model (rebuilt from `model.stateDict()`), and the prompts are
 * split between the main thread and the workers (ParallelEngine, ./engine.ts).
 *
 * Everything is a promise (protocol.ts): `request` posts a numbered message and resolves with
 * the worker's reply; the main thread computes its own share meanwhile and then awaits. Nothing
 * blocks a thread, so the same protocol serves Web Workers.
 */
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import type { HookedTransformer } from '../model/transformer.js';
import type { TaskSpec, WorkerInit, WorkerMessage, WorkerReply } from './protocol.js';

export type { TaskSpec } from './protocol.js';

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }
interface Slot { worker: Worker; port: MessagePort; pending: Map<number, Pending>; dead: string | null }

let nextRequest = 1;

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
    const weights = [...await model.stateDict()].map(([k, h]) => [k, h.shape, h.data] as [string, readonly number[], Float32Array]);
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const { port1, port2 } = new MessageChannel();
        const init: WorkerInit & { port: MessagePort } = { backend: opts.backend === 'tensorflow' ? 'node' : opts.backend, cfg: model.cfg, weights, processing: [...model.processing], task: opts.task ?? null, port: port2 };
        slots.push({ worker: spawn(init, [port2]), port: port1, pending: new Map(), dead: null });
      }
      await Promise.all(slots.map((s, i) => new Promise<void>((resolve, reject) => {
        s.worker.once('message', (m: { ok: boolean; error?: string }) => (m.ok ? resolve() : reject(new Error(`worker ${i + 1}: ${m.error}`))));
        s.worker.once('error', (e) => reject(new Error(`worker ${i + 1} failed to start: ${e.message}`)));
        s.worker.once('exit', (code) => reject(new Error(`worker ${i + 1} exited during startup (code ${code})`)));
      })));
    } catch (e) {
      for (const s of slots) void s.worker.terminate();
      throw e;
    }
    slots.forEach((s, i) => {
      s.worker.removeAllListeners();
      const fail = (why: string) => {
        s.dead = why;
        for (const p of s.pending.values()) p.reject(new Error(`worker ${i + 1} ${why}`));
        s.pending.clear();
        s.port.unref();
      };
      s.worker.on('error', (e) => fail(`failed: ${e.message}`));
      s.worker.on('exit', () => fail('died (out of memory, or a crash in the backend)'));
      s.port.on('message', (r: WorkerReply) => {
        const p = s.pending.get(r.reply);
        if (!p) return;
        s.pending.delete(r.reply);
        if (s.pending.size === 0) s.port.unref();
        if (r.ok) p.resolve(r.value); else p.reject(new Error(`worker ${i + 1}: ${r.error}`));
      });
      s.port.unref();
      s.worker.unref();
    });
    return new WorkerPool(slots, opts.task ?? null);
  }

  /** Post a message that gets no reply (processed in order with the others; its error comes with the next reply). */
  post(w: number, msg: WorkerMessage, transfer: TransferListItem[] = []): void {
    this.slot(w).port.postMessage(msg, transfer);
  }

  /** Post a request; resolves with worker w's reply, rejects with its error. */
  request<T>(w: number, msg: WorkerMessage, transfer: TransferListItem[] = []): Promise<T> {
    const s = this.slot(w);
    if (s.dead) return Promise.reject(new Error(`worker ${w + 1} ${s.dead}`));
    const reply = nextRequest++;
    return new Promise<T>((resolve, reject) => {
      s.pending.set(reply, { resolve: resolve as (v: unknown) => void, reject });
      s.port.ref(); // an outstanding request keeps the process alive
      s.port.postMessage({ ...msg, reply }, transfer);
    });
  }

  /**
   * Send each worker its request (`msg(w)`, null: none), run `local` meanwhile, then await the
   * replies (in worker order). On any error every reply is still awaited, so the pool stays usable.
   */
  async all<T, L>(msg: (w: number) => WorkerMessage | null, local: () => L | Promise<L>): Promise<{ local: L; remote: (T | undefined)[] }> {
    const asked = Array.from({ length: this.size }, (_, w) => {
      const m = msg(w);
      return m ? this.request<T>(w, m) : Promise.resolve(undefined);
    });
    const settled = Promise.allSettled(asked);
    let out: L;
    try {
      out = await local();
    } catch (e) {
      await settled; // the local error wins
      throw e;
    }
    const remote: (T | undefined)[] = [];
    let err: unknown = null;
    for (const r of await settled) {
      if (r.status === 'fulfilled') remote.push(r.value); else { err ??= r.reason; remote.push(undefined); }
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
    for (const s of this.slots) {
      for (const p of s.pending.values()) p.reject(new Error('worker pool: closed'));
      s.pending.clear();
      s.port.close();
      void s.worker.terminate();
    }
  }
}

/** The worker module: compiled JavaScript, or (tests, tsx) its TypeScript source through tsx. */
function spawn(init: WorkerInit & { port: MessagePort }, transfer: TransferListItem[]): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const entry = new URL('./worker.ts', self).href;
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, workerData: init, transferList: transfer });
  }
  return new Worker(fileURLToPath(new URL('./worker.js', self)), { workerData: init, transferList: transfer });
}
