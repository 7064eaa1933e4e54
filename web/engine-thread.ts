/**
 * One engine thread of the app (a module Web Worker started by ./engine-threads.ts): the same
 * worker engine as a CLI `--workers` thread (src/parallel/worker-core.ts), with the browser's
 * backend start. Its first message is { init, port, base }; it answers { ok } once the model is
 * built, then serves requests on `port`.
 */
import { initBackendWith } from '../src/model/backend-core.js';
import type { BackendName } from '../src/model/backend-choice.js';
import { serveEngine } from '../src/parallel/worker-core.js';
import type { WorkerInit, WorkerMessage } from '../src/parallel/protocol.js';
import { browserHost } from './browser-host.js';

interface Start { init: WorkerInit; port: MessagePort; base: string }

const scope = self as unknown as { onmessage: ((ev: MessageEvent<Start>) => void) | null; postMessage(m: unknown): void };

scope.onmessage = (ev: MessageEvent<Start>) => {
  scope.onmessage = null;
  const { init, port, base } = ev.data;
  serveEngine(init, {
    initBackend: (name) => initBackendWith(name as BackendName, browserHost(base)),
    onMessage: (cb) => { port.onmessage = (e: MessageEvent<WorkerMessage>) => cb(e.data); },
    post: (reply, transfer) => port.postMessage(reply, transfer),
  }).then(
    () => scope.postMessage({ ok: true }),
    (e: unknown) => scope.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) }),
  );
};
