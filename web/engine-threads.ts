/**
 * The app's engine threads: WorkerPool (src/parallel/pool.ts, the CLI's `--workers`) over module
 * Web Workers running ./engine-thread.ts, so a run on wasm uses the machine's cores the way the
 * CLI does (the prompts split between threads, each with its own tfjs and copy of the model;
 * same results).
 */
import type { HookedTransformer } from '../src/model/transformer.js';
import { WorkerPool, type Spawner, type TaskSpec, type Thread } from '../src/parallel/pool.js';
import type { WorkerMessage, WorkerReply } from '../src/parallel/protocol.js';

/** Threads for `auto`: one per core up to 8 on wasm and cpu (their kernels run on one thread), 1 on WebGPU. */
export function autoThreads(backend: string): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return backend === 'wasm' || backend === 'cpu' ? Math.max(1, Math.min(8, cores)) : 1;
}

function webSpawner(base: string): Spawner {
  return (init, index): Thread => {
    const worker = new Worker(new URL('./engine-thread.ts', import.meta.url), { type: 'module', name: `circuitscope engine thread ${index}` });
    const { port1, port2 } = new MessageChannel();
    let failed: ((why: string) => void) | null = null;
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ ok: boolean; error?: string }>) => (e.data.ok ? resolve() : reject(new Error(e.data.error)));
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        if (failed) failed(`failed: ${e.message}`); else reject(new Error(`failed to start: ${e.message}`));
      };
    });
    worker.postMessage({ init, port: port2, base }, [port2]);
    return {
      ready,
      port: {
        post: (msg: WorkerMessage, transfer: ArrayBuffer[]) => port1.postMessage(msg, transfer),
        onMessage: (cb: (r: WorkerReply) => void) => { port1.onmessage = (e: MessageEvent<WorkerReply>) => cb(e.data); },
        close: () => port1.close(),
      },
      onFail: (cb) => { failed = cb; },
      terminate: () => worker.terminate(),
    };
  };
}

/** A pool of `threads` (the calling worker is the first); undefined when one thread does. */
export async function startThreads(model: HookedTransformer, opts: { threads: number; backend: string; rows: number; task: TaskSpec; base: string }): Promise<WorkerPool | undefined> {
  const threads = Math.min(opts.threads, opts.rows);
  if (threads <= 1) return undefined;
  return WorkerPool.start(model, { threads, backend: opts.backend, task: opts.task, spawn: webSpawner(opts.base) });
}
