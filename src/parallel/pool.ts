/**
 * Threads over the machine's cores. tfjs' wasm backend runs its kernels on one thread (in Node,
 * and in the browser app, whose bundled worker cannot start Emscripten's pthreads), so a second
 * core only helps through a second tfjs instance: each worker thread holds its own backend and
 * its own copy of the model (rebuilt from `model.stateDict()`), and the prompts are split between
 * the main thread and the workers (ParallelEngine, ./engine.ts).
 *
 * Everything is a promise (protocol.ts): `request` posts a numbered message and resolves with
 * the worker's reply; the main thread computes its own share meanwhile and then awaits. Nothing
 * blocks a thread. What a thread is comes from a `Spawner`: Node's worker_threads
 * (./node-threads.ts, `startPool`) or the browser's Web Workers (web/engine-threads.ts); both
 * run ./worker-core.ts.
 */
import type { HookedTransformer } from '../model/transformer.js';
import type { TaskSpec, WorkerInit, WorkerMessage, WorkerReply } from './protocol.js';

export type { TaskSpec } from './protocol.js';

/** The request channel to one worker (a MessagePort of either platform). */
export interface ThreadPort {
  post(msg: WorkerMessage, transfer: ArrayBuffer[]): void;
  onMessage(cb: (reply: WorkerReply) => void): void;
  /** Node: whether an outstanding request keeps the process alive (browsers: absent) */
  hold?(on: boolean): void;
  close(): void;
}

/** One started worker. */
export interface Thread {
  port: ThreadPort;
  /** resolves when the worker has built its model; rejects with why it could not */
  ready: Promise<void>;
  /** after `ready`: called once if the worker fails or dies */
  onFail(cb: (why: string) => void): void;
  terminate(): void;
}

/** Starts worker number `index` (1, 2, ...) with `init` (its weights are transferable copies). */
export type Spawner = (init: WorkerInit, index: number) => Thread;

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }
interface Slot { thread: Thread; pending: Map<number, Pending>; dead: string | null }

let nextRequest = 1;

export class WorkerPool {
  private closed = false;
  private constructor(private readonly slots: Slot[], readonly task: TaskSpec | null) {}

  /** Threads besides the main one. */
  get size(): number { return this.slots.length; }

  /**
   * Start `threads - 1` workers with `spawn` (the main thread is the first), each with the
   * model and the backend of this thread. Resolves when every worker has built its model.
   */
  static async start(model: HookedTransformer, opts: { threads: number; backend: string; task?: TaskSpec; spawn: Spawner }): Promise<WorkerPool> {
    const n = Math.floor(opts.threads) - 1;
    if (!(n >= 0)) throw new Error(`--workers must be a positive integer, got ${opts.threads}`);
    const weights = [...await model.stateDict()].map(([k, h]) => [k, h.shape, h.data] as [string, readonly number[], Float32Array]);
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const init: WorkerInit = { backend: opts.backend === 'tensorflow' ? 'node' : opts.backend, cfg: model.cfg, weights, processing: [...model.processing], task: opts.task ?? null };
        slots.push({ thread: opts.spawn(init, i + 1), pending: new Map(), dead: null });
      }
      await Promise.all(slots.map((s, i) => s.thread.ready.catch((e: unknown) => { throw new Error(`worker ${i + 1}: ${(e as Error).message ?? String(e)}`); })));
    } catch (e) {
      for (const s of slots) s.thread.terminate();
      throw e;
    }
    slots.forEach((s, i) => {
      const { port } = s.thread;
      s.thread.onFail((why) => {
        s.dead = why;
        for (const p of s.pending.values()) p.reject(new Error(`worker ${i + 1} ${why}`));
        s.pending.clear();
        port.hold?.(false);
      });
      port.onMessage((r) => {
        const p = s.pending.get(r.reply);
        if (!p) return;
        s.pending.delete(r.reply);
        if (s.pending.size === 0) port.hold?.(false);
        if (r.ok) p.resolve(r.value); else p.reject(new Error(`worker ${i + 1}: ${r.error}`));
      });
      port.hold?.(false);
    });
    return new WorkerPool(slots, opts.task ?? null);
  }

  /** Post a message that gets no reply (processed in order with the others; its error comes with the next reply). */
  post(w: number, msg: WorkerMessage, transfer: ArrayBuffer[] = []): void {
    this.slot(w).thread.port.post(msg, transfer);
  }

  /** Post a request; resolves with worker w's reply, rejects with its error. */
  request<T>(w: number, msg: WorkerMessage, transfer: ArrayBuffer[] = []): Promise<T> {
    const s = this.slot(w);
    if (s.dead) return Promise.reject(new Error(`worker ${w + 1} ${s.dead}`));
    const reply = nextRequest++;
    return new Promise<T>((resolve, reject) => {
      s.pending.set(reply, { resolve: resolve as (v: unknown) => void, reject });
      s.thread.port.hold?.(true); // an outstanding request keeps the process alive
      s.thread.port.post({ ...msg, reply }, transfer);
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
      s.thread.port.close();
      s.thread.terminate();
    }
  }
}
