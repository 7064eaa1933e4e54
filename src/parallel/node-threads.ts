/**
 * WorkerPool's threads in Node: worker_threads running ./worker.ts (compiled: worker.js; in
 * tests under tsx, the TypeScript source through tsx's loader). `startPool` is the pool of the
 * CLI, the benches and the tests.
 */
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import type { HookedTransformer } from '../model/transformer.js';
import { WorkerPool, type Spawner, type TaskSpec, type Thread } from './pool.js';
import type { WorkerInit, WorkerMessage, WorkerReply } from './protocol.js';

/** The pool over Node worker threads. */
export function startPool(model: HookedTransformer, opts: { threads: number; backend: string; task?: TaskSpec }): Promise<WorkerPool> {
  return WorkerPool.start(model, { ...opts, spawn: nodeThread });
}

/** A worker thread (the request channel is a MessagePort of its own, the startup message comes on the thread's). */
export const nodeThread: Spawner = (init: WorkerInit): Thread => {
  const { port1, port2 } = new MessageChannel();
  const worker = spawn({ ...init, port: port2 }, [port2]);
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ok: boolean; error?: string }) => (m.ok ? resolve() : reject(new Error(m.error))));
    worker.once('error', (e) => reject(new Error(`failed to start: ${e.message}`)));
    worker.once('exit', (code) => reject(new Error(`exited during startup (code ${code})`)));
  }).finally(() => worker.removeAllListeners());
  const port: Thread['port'] = {
    post: (msg: WorkerMessage, transfer: ArrayBuffer[]) => port1.postMessage(msg, transfer),
    onMessage: (cb: (r: WorkerReply) => void) => { port1.on('message', cb); },
    hold: (on: boolean) => (on ? port1.ref() : port1.unref()),
    close: () => port1.close(),
  };
  return {
    port, ready,
    onFail: (cb) => {
      let told = false;
      const fail = (why: string) => { if (!told) { told = true; cb(why); } };
      worker.on('error', (e) => fail(`failed: ${e.message}`));
      worker.on('exit', () => fail('died (out of memory, or a crash in the backend)'));
      worker.unref();
    },
    terminate: () => { void worker.terminate(); },
  };
};

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
