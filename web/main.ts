/**
 * The page: a form for one discovery run, the engine in a Web Worker (./worker.ts), progress,
 * Cancel (terminates the worker), the metrics and the kept edges, and the circuit JSON exactly
 * as `circuitscope discover --out` writes it.
 *
 * Scriptable: `?model=permute-lists-2l&task=permute-lists&method=acdc&n=20&threshold=0.01
 * &ablation=resample&run=1` fills the form and starts the run; when it ends
 * `window.circuitscope.result` holds the circuit file and `document.body.dataset.state` is
 * `done` (or `error`, with the message in `window.circuitscope.error`).
 */
import { fmtNum, fmtThreshold } from '../src/util/format.js';
import type { CircuitFile } from '../src/graph/circuit-file.js';
import type { Catalog, FromWorker, RunJob, ShippedModelIndex } from './protocol.js';

type State = 'loading' | 'idle' | 'running' | 'done' | 'error';

interface CircuitscopeGlobal {
  state: State;
  result: CircuitFile | null;
  error: string | null;
  /** the circuit file's text as the CLI writes it */
  resultText: string | null;
  backend: string | null;
}

declare global {
  interface Window { circuitscope: CircuitscopeGlobal }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('form');
const fields = {
  model: $<HTMLSelectElement>('model'), task: $<HTMLSelectElement>('task'), method: $<HTMLSelectElement>('method'),
  n: $<HTMLInputElement>('n'), seed: $<HTMLInputElement>('seed'), threshold: $<HTMLInputElement>('threshold'),
  topN: $<HTMLInputElement>('topN'), ablation: $<HTMLSelectElement>('ablation'), backend: $<HTMLSelectElement>('backend'),
};
const runButton = $<HTMLButtonElement>('run');
const cancelButton = $<HTMLButtonElement>('cancel');
const status = $<HTMLSpanElement>('status');

const cs: CircuitscopeGlobal = { state: 'loading', result: null, error: null, resultText: null, backend: null };
window.circuitscope = cs;

function setState(s: State): void {
  cs.state = s;
  document.body.dataset.state = s;
  runButton.disabled = s === 'running' || s === 'loading';
  cancelButton.disabled = s !== 'running';
}

function fail(message: string): void {
  cs.error = message;
  $('error').textContent = message;
  $('error').hidden = false;
  status.textContent = 'error';
  setState('error');
}

// ---------------------------------------------------------------------------------------------
// The worker

let worker: Worker | null = null;
let catalog: Catalog | null = null;
let onReady: (() => void) | null = null;

function startWorker(): Promise<void> {
  worker?.terminate();
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (ev: MessageEvent<FromWorker>) => handle(ev.data);
  worker.onerror = (ev) => { ev.preventDefault(); fail(`web: the engine's worker failed: ${ev.message || 'could not start'}`); };
  return new Promise((resolve) => { onReady = resolve; });
}

let t0 = 0;
let stageName = '';
function handle(m: FromWorker): void {
  switch (m.type) {
    case 'ready':
      catalog = m.catalog;
      onReady?.();
      onReady = null;
      break;
    case 'backend':
      cs.backend = m.name;
      break;
    case 'stage':
      stageName = m.stage;
      status.textContent = `${m.stage}… (${elapsed()})`;
      break;
    case 'progress': {
      const eta = m.done > 0 ? ((performance.now() - t0) / 1000) * (m.total - m.done) / m.done : null;
      status.textContent = `${stageName} ${m.done}/${m.total} (${m.note}) — ${elapsed()}${eta !== null && m.done < m.total ? `, ~${fmtNum(eta, 2)} s left` : ''}`;
      break;
    }
    case 'done':
      showResult(m.file);
      break;
    case 'error':
      fail(m.message);
      break;
  }
}

const elapsed = () => `${fmtNum((performance.now() - t0) / 1000, 3)} s`;

// ---------------------------------------------------------------------------------------------
// The form

function option(select: HTMLSelectElement, value: string, label = value): void {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  select.append(o);
}

async function fillForm(): Promise<void> {
  const r = await fetch(new URL('models/index.json', document.baseURI));
  if (!r.ok) throw new Error(`web: models/index.json: HTTP ${r.status}`);
  const index = (await r.json()) as ShippedModelIndex;
  for (const m of index.models) option(fields.model, m.name);
  for (const t of catalog!.tasks) option(fields.task, t.name);
  for (const m of catalog!.methods) if (!m.aliasOf) option(fields.method, m.name);
  const shipped = new Set(index.models.map((m) => m.name));
  fields.task.addEventListener('change', () => {
    const t = catalog!.tasks.find((x) => x.name === fields.task.value);
    const m = [t?.defaultModel, t?.fallbackModel].find((x) => x && shipped.has(x));
    if (m) fields.model.value = m;
  });
  fields.method.addEventListener('change', methodChanged);
  fields.task.value = catalog!.tasks.some((t) => t.name === 'permute-lists') ? 'permute-lists' : fields.task.value;
  fields.task.dispatchEvent(new Event('change'));
  methodChanged();
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) [...fields.backend.options].find((o) => o.value === 'webgpu')!.disabled = true;
}

function methodChanged(): void {
  const m = catalog!.methods.find((x) => x.name === fields.method.value);
  fields.threshold.placeholder = m?.defaultThreshold != null ? String(m.defaultThreshold) : 'method default';
  fields.topN.disabled = m?.kind !== 'score';
}

/** Fill the form from the URL (?model=&task=&method=&n=&seed=&threshold=&topN=&ablation=&backend=); whether run=1. */
function fromUrl(): boolean {
  const q = new URLSearchParams(location.search);
  const set = (el: HTMLInputElement | HTMLSelectElement, key: string, alias?: string) => {
    const v = q.get(key) ?? (alias ? q.get(alias) : null);
    if (v === null) return;
    if (el instanceof HTMLSelectElement && ![...el.options].some((o) => o.value === v)) throw new Error(`web: ?${key}=${v} is not one of ${[...el.options].map((o) => o.value).join(', ')}`);
    el.value = v;
    el.dispatchEvent(new Event('change'));
  };
  set(fields.task, 'task');
  set(fields.model, 'model');
  set(fields.method, 'method');
  set(fields.n, 'n');
  set(fields.seed, 'seed');
  set(fields.threshold, 'threshold');
  set(fields.topN, 'topN', 'top-n');
  set(fields.ablation, 'ablation');
  set(fields.backend, 'backend');
  return q.get('run') === '1';
}

function readJob(): RunJob {
  const int = (el: HTMLInputElement, name: string, min: number): number => {
    const v = Number(el.value);
    if (el.value.trim() === '' || !Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got '${el.value}'`);
    return v;
  };
  const job: RunJob = {
    model: fields.model.value, task: fields.task.value, method: fields.method.value,
    n: int(fields.n, 'n', 1), seed: int(fields.seed, 'seed', 0),
    ablation: fields.ablation.value as RunJob['ablation'], backend: fields.backend.value,
    base: new URL('./', document.baseURI).href,
  };
  if (fields.threshold.value.trim() !== '') {
    const t = Number(fields.threshold.value);
    if (!Number.isFinite(t) || t < 0) throw new Error(`threshold must be a number >= 0, got '${fields.threshold.value}'`);
    job.threshold = t;
  }
  if (!fields.topN.disabled && fields.topN.value.trim() !== '') job.topN = int(fields.topN, 'top-n', 0);
  return job;
}

async function run(): Promise<void> {
  let job: RunJob;
  try { job = readJob(); } catch (e) { fail((e as Error).message); return; }
  cs.result = null; cs.resultText = null; cs.error = null;
  $('error').hidden = true;
  $('results').hidden = true;
  setState('running');
  t0 = performance.now();
  status.textContent = 'starting…';
  if (!worker) await startWorker();
  worker!.postMessage({ type: 'run', job });
}

form.addEventListener('submit', (ev) => { ev.preventDefault(); void run(); });
cancelButton.addEventListener('click', () => {
  worker?.terminate();
  worker = null;
  status.textContent = `cancelled after ${elapsed()}`;
  setState('idle');
  void startWorker();
});

// ---------------------------------------------------------------------------------------------
// Results

function showResult(file: CircuitFile): void {
  const text = JSON.stringify(file, null, 1) + '\n';
  cs.resultText = text;
  cs.result = JSON.parse(text) as CircuitFile;
  const r = file.results;
  const how = file.topN !== null ? `top-n ${file.topN}` : file.threshold !== null ? `threshold ${fmtThreshold(file.threshold)}` : 'default selection';
  $('summary').textContent = `${file.method} on ${file.model}, task ${file.task}: ${r.edgesKept} of ${r.edgesTotal} edges kept (${how}; ${file.metric}, ${file.ablation} ablation, n=${file.n}; ${file.backend})`;
  const f = (x: number | null | undefined) => fmtNum(x ?? null, 4, 1e-9);
  const rows: [string, string][] = [
    [`metric (${r.metric}): clean`, f(r.clean)],
    ['corrupted', f(r.corrupted)],
    ['circuit', f(r.circuit)],
    ['faithfulness', f(r.faithfulness)],
    ['KL(clean || circuit)', f(r.klCircuit)],
    ['edges kept', `${r.edgesKept} / ${r.edgesTotal}`],
    ['forward passes', f(r.forwards)],
    ['discovery time', `${fmtNum(r.seconds, 3)} s`],
    ['total time', `${fmtNum(r.wall?.total ?? null, 3)} s`],
  ];
  const mt = $('metrics').querySelector('tbody')!;
  mt.replaceChildren(...rows.map(([k, v]) => row([k, v])));
  const kept = file.edges.filter((e) => e.inCircuit);
  $('edge-count').textContent = `(${kept.length})`;
  $('edges').querySelector('tbody')!.replaceChildren(...kept.map((e) => row([e.to, e.from, e.score === null || e.score === undefined ? '—' : fmtNum(e.score, 4, 1e-12)])));
  $('results').hidden = false;
  status.textContent = `done in ${elapsed()}`;
  setState('done');
}

function row(cells: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
  return tr;
}

$('download').addEventListener('click', () => {
  if (!cs.resultText || !cs.result) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([cs.resultText], { type: 'application/json' }));
  a.download = `circuit-${cs.result.task}-${cs.result.method}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});

// ---------------------------------------------------------------------------------------------

setState('loading');
status.textContent = 'loading the engine…';
startWorker()
  .then(fillForm)
  .then(() => {
    setState('idle');
    status.textContent = '';
    if (fromUrl()) void run();
  })
  .catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
