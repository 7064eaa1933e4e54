/**
 * The engine in a Web Worker: the same src/ modules the CLI runs (model loaders reading bytes,
 * the task registry, discovery, the circuit file), so the page never freezes. Model files are
 * fetched from the app's own server into memory (`memoryFiles`); nothing comes from elsewhere.
 */
import { initBackendWith, backendChoice, type BackendHost } from '../src/model/backend-core.js';
import { probeNavigatorGpu, type BackendName, type BackendProbe } from '../src/model/backend-choice.js';
import { memoryFiles } from '../src/model/loaders/files.js';
import { loadModelFrom } from '../src/model/from-files.js';
import { getTask } from '../src/tasks/registry.js';
import { discover } from '../src/discovery/run.js';
import { getMethod, methodNames } from '../src/discovery/registry.js';
import { listTasks } from '../src/tasks/registry.js';
import type { FromWorker, RunJob, ShippedModelIndex, ToWorker } from './protocol.js';

const post = (m: FromWorker): void => (self as unknown as { postMessage(m: FromWorker): void }).postMessage(m);

function browserHost(base: string): BackendHost {
  return {
    installed: () => false,
    // one thread: tfjs-wasm's pthread workers cannot load a bundled module worker (see BackendHost)
    wasmThreads: false,
    importPackage: (pkg) => Promise.reject(new Error(`web: ${pkg} does not run in a browser`)),
    wasmPaths: () => new URL('tfjs-wasm/', base).href,
    probeWebgpu: async (): Promise<BackendProbe> => (await probeNavigatorGpu()) ?? { backend: 'webgpu', available: false, detail: 'this browser has no WebGPU (navigator.gpu)' },
  };
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`web: ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** The shipped model's files, fetched into memory under models/<name>/. */
async function shippedFiles(base: string, name: string) {
  const index = JSON.parse(new TextDecoder().decode(await fetchBytes(new URL('models/index.json', base).href))) as ShippedModelIndex;
  const m = index.models.find((x) => x.name === name);
  if (!m) throw new Error(`web: unknown model '${name}' (shipped: ${index.models.map((x) => x.name).join(', ')})`);
  const entries = await Promise.all(m.files.map(async (f) => [`models/${name}/${f}`, await fetchBytes(new URL(`models/${name}/${f}`, base).href)] as [string, Uint8Array]));
  return memoryFiles(entries);
}

async function run(job: RunJob): Promise<void> {
  const t0 = performance.now();
  const times: Record<string, number> = {};
  let cur: { name: string; t: number } | null = null;
  const stage = (name: string | null) => {
    const now = performance.now();
    if (cur) times[cur.name] = (times[cur.name] ?? 0) + (now - cur.t) / 1000;
    cur = name ? { name, t: now } : null;
    if (name) post({ type: 'stage', stage: name });
  };
  stage('load model');
  const backend = await initBackendWith(job.backend as BackendName, browserHost(job.base));
  const choice = backendChoice();
  post({ type: 'backend', name: backend, detail: choice?.reason ?? backend });
  const task = getTask(job.task);
  const files = await shippedFiles(job.base, job.model);
  const loaded = loadModelFrom(files, `models/${job.model}`, { quiet: true });
  try {
    const { file, evaluator } = await discover(loaded.model, task, {
      method: job.method, threshold: job.threshold, topN: job.topN, metric: job.metric, ablation: job.ablation,
      n: job.n, seed: job.seed, modelName: job.model, backend,
      onStage: (s) => stage(s === 'method' ? job.method : s),
      onProgress: (p) => post({ type: 'progress', done: p.done, total: p.total, note: `${p.kept} kept${p.note ? `, ${p.note}` : ''}` }),
    });
    evaluator.dispose();
    stage(null);
    file.results.wall = { stages: times, total: (performance.now() - t0) / 1000 };
    post({ type: 'done', file });
  } finally {
    loaded.model.dispose();
  }
}

post({
  type: 'ready',
  catalog: {
    tasks: listTasks().map((t) => ({ name: t.name, description: t.description, defaultModel: t.defaultModel, fallbackModel: t.fallbackModel })),
    methods: methodNames().map((name) => {
      const m = getMethod(name);
      return { name, kind: m.kind, defaultThreshold: m.defaultThreshold ?? null, aliasOf: m.aliasOf ?? null };
    }),
  },
});

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  if (ev.data.type !== 'run') return;
  run(ev.data.job).catch((e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
};
