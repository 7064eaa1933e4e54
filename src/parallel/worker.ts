/**
 * Node's entry point of a WorkerPool thread (./node-threads.ts starts it): the engine of
 * ./worker-core.ts over worker_threads, with Node's backend start and custom task files.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { initBackend, type BackendName } from '../model/backend.js';
import { loadCustomTask } from '../tasks/custom-file.js';
import { serveEngine } from './worker-core.js';
import type { WorkerInit, WorkerMessage, WorkerReply } from './protocol.js';

const init = workerData as WorkerInit & { port: MessagePort };

serveEngine(init, {
  initBackend: (name) => initBackend(name as BackendName),
  loadTaskFile: loadCustomTask,
  onMessage: (cb) => { init.port.on('message', (m: WorkerMessage) => cb(m)); },
  post: (reply: WorkerReply, transfer: ArrayBuffer[]) => init.port.postMessage(reply, transfer),
}).then(
  () => parentPort!.postMessage({ ok: true }),
  (e: Error) => parentPort!.postMessage({ ok: false, error: e.message }),
);
