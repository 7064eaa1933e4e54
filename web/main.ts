/**
 * The page: a form for one discovery run, the engine in a Web Worker (./worker.ts), progress,
 * Cancel (terminates the worker), the metrics and the kept edges, and the circuit JSON exactly
 * as `circuitscope discover --out` writes it. The result is drawn as an interactive graph
 * (./graph-view.ts) with, for scored methods, a slider that re-selects the connected top-n
 * live (`selectConnected`, the CLI's `--top-n`); the drawn edges export as SVG, and through the
 * engine's writers as DOT and MIB graph JSON, and as a PNG; a circuit JSON written by the CLI can
 * be opened. The form offers the selected method's own options (the registry's, labelled with
 * the CLI's flags, checked as the CLI checks them). After a run the page plots faithfulness vs
 * edges and, when a reference fits (the task's, or one the user opens), the edge ROC: the
 * evaluation of `discover --html`'s report, computed in the worker with the run's evaluator.
 * A local model (files or a folder, picked or dropped) is loaded in the worker; a prompt shows
 * its next-token prediction; the custom task editor tokenises and checks prompts as `--data`.
 * The task's reference circuit, when one fits the model (or a reference JSON the user opens),
 * is overlaid on the graph (missing edges dashed grey, extra ones marked; a toggle), and
 * clicking a head shows its attention pattern on a chosen prompt of the task. The Patching panel
 * runs `circuitscope patch`'s activation / path patching on one prompt of the form's task (the
 * worker calls the CLI's engine function, src/analysis/patch-run.ts) and shows its heatmaps (the
 * CLI's SVGs, drawn in the worker); `window.circuitscope.patching` holds `patch --json`'s numbers.
 * A preset model (`gpt2-small`: the shape with random weights, as the CLI's) runs like a shipped
 * one; `batch-size` chunks the prompts and `evaluate=0` skips the evaluation (`--no-html`).
 *
 * Scriptable: `?model=permute-lists-2l&task=permute-lists&method=acdc&n=20&threshold=0.01
 * &ablation=resample&run=1` fills the form and starts the run; a method's own options go by their
 * CLI flag (`&method=eap-ig&steps=3`, `&candidates=eap-ig:0.5`, `&abs-value=1`). When it ends
 * `window.circuitscope.result` holds the circuit file, `window.circuitscope.evaluation` its
 * evaluation, and `document.body.dataset.state` is `done` (or `error`, with the message in
 * `window.circuitscope.error`).
 *
 * Checkpoints: a method that checkpoints (ACDC, edge-pruning, mattr) saves its progress in
 * IndexedDB as it runs (./checkpoints.ts); a reload, a closed tab or Cancel leaves it there, and
 * the page offers Resume (or Discard) for each saved run; the same URL with `&resume=1` instead of
 * `&run=1` resumes it. A completed run removes its checkpoint.
 * The hub: `&hf=gpt2` fetches a repo's files from the Hugging Face hub (`&hub=URL`: another server
 * with the hub's layout) before a run, as the Fetch button does (./hub.ts).
 */
import { fmtNum, fmtThreshold } from '../src/util/format.js';
import { readCircuitJson, toDot, toMib, type CircuitEdge, type CircuitFile } from '../src/graph/circuit-file.js';
import { connectedCounts, rankByScore, selectConnected } from '../src/graph/selection.js';
import { parseNodeKey } from '../src/graph/names.js';
import { checkNumber, checkNumbers, optionRule } from '../src/util/check.js';
import type { Evaluation } from '../src/eval/evaluate.js';
import { GraphView } from './graph-view.js';
import { probeNavigatorGpu, softwareAdapter } from '../src/model/backend-choice.js';
import { deleteRun, listRuns, modelLabel, type SavedRun } from './checkpoints.js';
import { DEFAULT_HUB, fetchHubModel } from './hub.js';
import type { PatchOutput } from '../src/analysis/patch-run.js';
import type { PatchKind, PatchMode } from '../src/patching/activation.js';
import { LOCAL_MODEL, type Catalog, type FromWorker, type ModelRef, type PickedFile, type Plots, type Reply, type RunJob, type ShippedModelIndex, type TaskRow, type ToWorker, type TopToken } from './protocol.js';

type State = 'loading' | 'idle' | 'running' | 'done' | 'error';

interface CircuitscopeGlobal {
  state: State;
  result: CircuitFile | null;
  error: string | null;
  /** the circuit file's text as the CLI writes it */
  resultText: string | null;
  backend: string | null;
  /** the graph as drawn: its edge keys, and the slider's top-n (null: the file's own selection) */
  view: { edges: string[]; topN: number | null } | null;
  /** the last next-token prediction (as `circuitscope logits --json`: tokens and top) */
  logits: { tokens: number[]; top: TopToken[] } | null;
  /** the last custom task check */
  taskCheck: { rows: TaskRow[]; error: string | null } | null;
  /** the local model's summary once loaded */
  localModel: string | null;
  /** the reference overlaid on the graph (edges null and a note when none fits), and what the drawing shows of it */
  reference: { name: string | null; edges: string[] | null; note: string | null; shown: boolean; missing: string[]; extra: string[] } | null;
  /** the last attention pattern shown (a head clicked): pattern[dest][src] */
  attention: { head: string; index: number; seed: number; task: string; tokens: number[]; strTokens: string[]; pattern: number[][] } | null;
  /** the run's evaluation (`discover --html`'s: faithfulness, the curve, the ROC against the reference shown); null for an opened file */
  evaluation: Evaluation | null;
  /** why the worker took its backend (the backend choice's reason: the adapter, or what `auto` passed over) */
  backendDetail: string | null;
  /** the current run's first and last progress messages (a resumed run's first is past 0) */
  progress: { first: { done: number; total: number }; last: { done: number; total: number } } | null;
  /** the current run's checkpoint: where it resumed from (null: from the start), its saves so far and the last one's progress */
  checkpoint: { key: string; resumedFrom: { done: number; total: number } | null; saves: number; last: { done: number; total: number } | null } | null;
  /** the interrupted runs saved in this browser, as offered for Resume (oldest first) */
  saved: { key: string; model: string; method: string; done: number; total: number; savedAt: number }[];
  /** the last failure loading the user's model (files or the hub), one line; null once one loads */
  modelError: string | null;
  /**
   * the last activation patching (the Patching panel): what `circuitscope patch --json` prints for
   * that prompt (given as --data), and which prompt of which task it was
   */
  patching: (PatchOutput & { source: { task: string; seed: number; index: number; position: number } }) | null;
  /** the last patching failure, one line (null after a success) */
  patchError: string | null;
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
  batchSize: $<HTMLInputElement>('batchSize'), evaluate: $<HTMLInputElement>('evaluate'), threads: $<HTMLInputElement>('threads'),
};
const runButton = $<HTMLButtonElement>('run');
const cancelButton = $<HTMLButtonElement>('cancel');
const status = $<HTMLSpanElement>('status');

const cs: CircuitscopeGlobal = {
  state: 'loading', result: null, error: null, resultText: null, backend: null, view: null, logits: null, taskCheck: null, localModel: null, reference: null, attention: null, evaluation: null,
  backendDetail: null, progress: null, checkpoint: null, saved: [], modelError: null, patching: null, patchError: null,
};
window.circuitscope = cs;

function setState(s: State): void {
  cs.state = s;
  document.body.dataset.state = s;
  runButton.disabled = s === 'running' || s === 'loading';
  cancelButton.disabled = s !== 'running';
  for (const b of document.querySelectorAll<HTMLButtonElement>('#resume-list button')) b.disabled = s === 'running' || s === 'loading';
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

/** requests in flight (files, logits, task-check), by id */
const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
let nextId = 1;
/** the user's model files, sent again to a restarted worker */
let picked: PickedFile[] | null = null;

function startWorker(): Promise<void> {
  worker?.terminate();
  for (const p of pending.values()) p.reject(new Error('web: the engine was restarted'));
  pending.clear();
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (ev: MessageEvent<FromWorker>) => handle(ev.data);
  worker.onerror = (ev) => { ev.preventDefault(); fail(`web: the engine's worker failed: ${ev.message || 'could not start'}`); };
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  return picked ? ready.then(() => request({ type: 'files', id: 0, files: picked!, backend: fields.backend.value, base: base() })).then(() => undefined) : ready;
}

const base = () => new URL('./', document.baseURI).href;
const modelRef = (): ModelRef => ({ model: fields.model.value, backend: fields.backend.value, base: base() });

/** One request to the worker, answered by its id. */
async function request<T extends Reply['type']>(m: ToWorker & { id: number }): Promise<Extract<Reply, { type: T }>> {
  if (!worker) await startWorker();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve: resolve as (r: Reply) => void, reject });
    worker!.postMessage({ ...m, id });
  });
}

let t0 = 0;
let stageName = '';
/** the current run's first progress and when it came (for the time left) */
let progressFrom = { done: 0, t: 0 };
function handle(m: FromWorker): void {
  switch (m.type) {
    case 'ready':
      catalog = m.catalog;
      onReady?.();
      onReady = null;
      break;
    case 'backend':
      cs.backend = m.name;
      cs.backendDetail = m.detail;
      break;
    case 'stage':
      stageName = m.stage;
      status.textContent = `${m.stage}… (${elapsed()})`;
      break;
    case 'progress': {
      const p = { done: m.done, total: m.total };
      if (!cs.progress) { cs.progress = { first: p, last: p }; progressFrom = { done: m.done, t: performance.now() }; }
      cs.progress.last = p;
      // the rate since this run's first progress (a resumed run starts past 0)
      const rate = m.done > progressFrom.done ? (m.done - progressFrom.done) / ((performance.now() - progressFrom.t) / 1000) : 0;
      const eta = rate > 0 ? (m.total - m.done) / rate : null;
      const saved = cs.checkpoint?.last ? `; saved at ${cs.checkpoint.last.done}` : '';
      status.textContent = `${stageName} ${m.done}/${m.total} (${m.note}${saved}) — ${elapsed()}${eta !== null && m.done < m.total ? `, ~${fmtNum(eta, 2)} s left` : ''}`;
      break;
    }
    case 'checkpoint': {
      const p = { done: m.done, total: m.total };
      cs.checkpoint ??= { key: m.key, resumedFrom: null, saves: 0, last: null };
      if (m.event === 'resumed') {
        cs.checkpoint.resumedFrom = p;
        status.textContent = `resuming from the checkpoint at ${m.done}/${m.total}…`;
      } else {
        cs.checkpoint.saves++;
        cs.checkpoint.last = p;
      }
      break;
    }
    case 'done':
      showResult(m.file, { evaluation: m.evaluation, plots: m.plots });
      void refreshSaved();
      break;
    case 'error':
      fail(m.message);
      void refreshSaved();
      break;
    default: {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.type === 'failed') p?.reject(new Error(m.message));
      else p?.resolve(m);
    }
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
  // the CLI's presets: a model shape with random weights (seed 0), made in the worker
  for (const p of catalog!.presets) option(fields.model, p, `${p} (preset: random weights)`);
  for (const t of catalog!.tasks) option(fields.task, t.name);
  option(fields.task, CUSTOM, 'custom (prompt editor)');
  for (const m of catalog!.methods) if (!m.aliasOf) option(fields.method, m.name);
  const shipped = new Set(index.models.map((m) => m.name));
  fields.task.addEventListener('change', () => {
    const t = catalog!.tasks.find((x) => x.name === fields.task.value);
    const m = [t?.defaultModel, t?.fallbackModel].find((x) => x && shipped.has(x));
    if (m) fields.model.value = m;
  });
  fields.method.addEventListener('change', methodChanged);
  fillPatchForm();
  fields.task.value = catalog!.tasks.some((t) => t.name === 'permute-lists') ? 'permute-lists' : fields.task.value;
  fields.task.dispatchEvent(new Event('change'));
  methodChanged();
  // WebGPU when the browser has an adapter; a software one (SwiftShader) is offered by name only, and says so
  const gpu = await probeNavigatorGpu().catch(() => null);
  const webgpu = [...fields.backend.options].find((o) => o.value === 'webgpu')!;
  if (!gpu?.available) webgpu.disabled = true;
  else if (gpu.adapter && softwareAdapter(gpu.adapter)) {
    webgpu.textContent = 'webgpu (software adapter)';
    webgpu.title = `${gpu.detail}: a CPU running the GPU's programs, slower than wasm; auto never takes it`;
  }
}

function methodChanged(): void {
  const m = methodEntry();
  fields.threshold.placeholder = m?.defaultThreshold != null ? String(m.defaultThreshold) : 'method default';
  fields.topN.disabled = m?.kind !== 'score';
  strayFlags = [];
  renderOwnOptions();
}

const methodEntry = (name = fields.method.value) => catalog!.methods.find((x) => x.name === name);

// ---------------------------------------------------------------------------------------------
// The method's own options: the registry's (Catalog), as inputs labelled with the CLI's flags

type OwnOption = Catalog['methods'][number]['options'][number];
const ownBox = $<HTMLDivElement>('method-options');
/** what was typed (or ticked) per flag, kept across method changes: a flag means one thing for every method */
const ownValues = new Map<string, string | boolean>();
/** flags the URL gave that its method does not take: sent on, so that the worker refuses them as the CLI does */
let strayFlags: string[] = [];

/** The selected method's options as inputs: the flag as label, its description as title, blank for the method's default. */
function renderOwnOptions(): void {
  ownBox.replaceChildren(...(methodEntry()?.options ?? []).map(ownInput));
}

function ownInput(o: OwnOption): HTMLLabelElement {
  const label = document.createElement('label');
  label.className = `own ${o.type}`;
  label.title = o.describe;
  const input = document.createElement('input');
  input.id = `opt-${o.flag}`;
  input.dataset.flag = o.flag;
  const v = ownValues.get(o.flag);
  if (o.type === 'boolean') {
    input.type = 'checkbox';
    input.checked = v === true;
    input.addEventListener('change', () => ownValues.set(o.flag, input.checked));
  } else {
    // text, not type=number: what was typed reaches the check, which names it as the CLI does
    input.type = 'text';
    if (o.type === 'number') input.inputMode = 'decimal';
    input.placeholder = 'default';
    input.value = typeof v === 'string' ? v : '';
    input.addEventListener('input', () => ownValues.set(o.flag, input.value));
  }
  label.append(`--${o.flag}`, input);
  return label;
}

/** The option behind a flag: the method's own, else the first method's that declares it (as the CLI's vocabulary takes the first). */
function ownOption(flag: string): OwnOption | undefined {
  return methodEntry()?.options.find((o) => o.flag === flag) ?? catalog!.methods.flatMap((m) => m.options).find((o) => o.flag === flag);
}

/** The own options set, by key; numbers checked with the CLI's check and the registry's rule (one line: `--steps must be ...`). */
function readOwn(): RunJob['own'] {
  const own: RunJob['own'] = {};
  for (const flag of [...(methodEntry()?.options ?? []).map((o) => o.flag), ...strayFlags]) {
    const o = ownOption(flag)!, v = ownValues.get(flag);
    if (v === undefined || (typeof v === 'string' && v.trim() === '')) continue;
    own[o.key] = o.type === 'number' && o.list ? checkNumbers(o.flag, String(v), optionRule(o))
      : o.type === 'number' ? checkNumber(o.flag, Number(v), optionRule(o), String(v)) : o.type === 'string' ? String(v).trim() : v === true;
  }
  return own;
}

/** The own options the URL gives, by flag (`&steps=3`); flags of other methods are kept as strays. */
function ownFromUrl(q: URLSearchParams): void {
  const mine = new Set((methodEntry()?.options ?? []).map((o) => o.flag));
  const stray: string[] = [];
  for (const flag of new Set(catalog!.methods.flatMap((m) => m.options.map((o) => o.flag)))) {
    const v = q.get(flag);
    if (v === null) continue;
    ownValues.set(flag, ownOption(flag)!.type === 'boolean' ? urlBoolean(flag, v) : v);
    if (!mine.has(flag)) stray.push(flag);
  }
  strayFlags = stray;
  renderOwnOptions();
}

function urlBoolean(flag: string, v: string): boolean {
  if (['', '1', 'true'].includes(v)) return true;
  if (['0', 'false'].includes(v)) return false;
  throw new Error(`web: ?${flag}=${v} is not one of 1, true, 0, false`);
}

/**
 * Fill the form from the URL (?model=&task=&method=&n=&seed=&threshold=&topN=&ablation=&backend=,
 * &batch-size=&evaluate=0, the hub's ?hf=&hub=, the Patching panel's &patch-index=&patch-position=
 * &patch-mode=&senders=&receivers=); what it asks for: run=1 (a run), resume=1 (resume this job's
 * checkpoint), hf (a hub repo to fetch first), patch=resid,heads (patching with these kinds first).
 */
function fromUrl(): { run: boolean; resume: boolean; hf: string | null; patch: boolean } {
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
  set(fields.batchSize, 'batch-size', 'batchSize');
  set(fields.threads, 'threads');
  if (q.get('evaluate') !== null) fields.evaluate.checked = urlBoolean('evaluate', q.get('evaluate')!);
  ownFromUrl(q);
  patchFromUrl(q);
  const hub = q.get('hub'), hf = q.get('hf');
  if (hub !== null) hubBase.value = hub;
  if (hf !== null) hubRepo.value = hf;
  const resume = q.get('resume') !== null && urlBoolean('resume', q.get('resume')!);
  return { run: q.get('run') === '1' && !resume, resume, hf, patch: q.get('patch') !== null };
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
    base: base(), own: readOwn(),
  };
  if (job.task === CUSTOM) job.customTask = customText.value;
  if (fields.threshold.value.trim() !== '') {
    const t = Number(fields.threshold.value);
    if (!Number.isFinite(t) || t < 0) throw new Error(`threshold must be a number >= 0, got '${fields.threshold.value}'`);
    job.threshold = t;
  }
  if (!fields.topN.disabled && fields.topN.value.trim() !== '') job.topN = int(fields.topN, 'top-n', 0);
  if (fields.batchSize.value.trim() !== '') job.batchSize = int(fields.batchSize, 'batch-size', 1);
  const th = fields.threads.value.trim();
  // empty or auto: one engine thread per core (the CLI's --workers auto)
  if (th === 'auto' || th === '') job.threads = 'auto';
  else if (th !== '1') job.threads = int(fields.threads, 'threads', 1);
  if (!fields.evaluate.checked) job.evaluate = false;
  return job;
}

/** Start a run: the form's job, or a saved one (Resume); `resume`: continue from its checkpoint. */
async function run(resume = false, saved?: SavedRun): Promise<void> {
  let job: RunJob;
  try {
    job = saved ? { ...saved.job, base: base() } : readJob();
    if (saved && modelLabel(job, localSpec) !== saved.model) {
      throw new Error(`web: this run was on your model '${saved.model.slice(LOCAL_MODEL.length)}': load it again (Your own model: its files, or Fetch from the hub), then Resume`);
    }
  } catch (e) { fail((e as Error).message); return; }
  if (resume) job.resume = true;
  cs.result = null; cs.resultText = null; cs.error = null; cs.view = null; cs.evaluation = null;
  cs.progress = null; cs.checkpoint = null; cs.backend = null; cs.backendDetail = null;
  $('error').hidden = true;
  $('results').hidden = true;
  setState('running');
  t0 = performance.now();
  status.textContent = resume ? 'resuming…' : 'starting…';
  showSaved();
  if (!worker) await startWorker();
  runContext = { ref: { model: job.model, backend: job.backend, base: job.base }, task: job.task, customTask: job.customTask, seed: job.seed };
  worker!.postMessage({ type: 'run', job });
}

/** What the last run's circuit was found on: the model, task and seed (for attention patterns). */
let runContext: { ref: ModelRef; task: string; customTask?: string; seed: number } | null = null;

form.addEventListener('submit', (ev) => { ev.preventDefault(); void run(); });
cancelButton.addEventListener('click', () => {
  worker?.terminate();
  worker = null;
  status.textContent = `cancelled after ${elapsed()}${cs.checkpoint?.last ? ` (saved at ${cs.checkpoint.last.done}/${cs.checkpoint.last.total}: Resume continues from there)` : ''}`;
  setState('idle');
  void startWorker();
  void refreshSaved();
});

// ---------------------------------------------------------------------------------------------
// Interrupted runs: their checkpoints in IndexedDB (./checkpoints.ts), offered for Resume

let savedRuns: SavedRun[] = [];

/** Read the saved runs again and offer them. */
async function refreshSaved(): Promise<void> {
  try { savedRuns = await listRuns(); } catch { savedRuns = []; }
  cs.saved = savedRuns.map((r) => ({ key: r.key, model: r.model, method: r.job.method, done: r.done, total: r.total, savedAt: r.savedAt }));
  showSaved();
}

/** One line per saved run: its settings and progress, Resume and Discard (disabled while a run is on). */
function showSaved(): void {
  const box = $('resume-box');
  box.hidden = savedRuns.length === 0;
  $('resume-list').replaceChildren(...savedRuns.map((r) => {
    const li = document.createElement('li');
    li.dataset.key = r.key;
    const j = r.job, sel = j.topN !== undefined ? `top-n ${j.topN}` : j.threshold !== undefined ? `threshold ${fmtThreshold(j.threshold)}` : 'default selection';
    const own = Object.entries(j.own).map(([k, v]) => `${k} ${String(v)}`).join(', ');
    const model = r.model.startsWith(LOCAL_MODEL) ? `your model ${r.model.slice(LOCAL_MODEL.length)}` : r.model;
    const text = document.createElement('span');
    text.className = 'what';
    text.textContent = `${j.method} on ${model}, task ${j.customTask !== undefined ? 'custom' : j.task}, n=${j.n}, seed ${j.seed} (${sel}; ${j.ablation}; ${j.backend}${own ? `; ${own}` : ''}): ${r.done} of ${r.total} done, saved ${new Date(r.savedAt).toLocaleString()}`;
    const resume = document.createElement('button');
    resume.type = 'button'; resume.className = 'small resume'; resume.textContent = 'Resume';
    resume.disabled = cs.state === 'running' || cs.state === 'loading';
    resume.addEventListener('click', () => { fillFromJob(r); void run(true, r); });
    const discard = document.createElement('button');
    discard.type = 'button'; discard.className = 'small discard'; discard.textContent = 'Discard';
    discard.disabled = resume.disabled;
    discard.addEventListener('click', () => { void deleteRun(r.key).catch(() => undefined).then(refreshSaved); });
    li.append(text, resume, discard);
    return li;
  }));
}

/** Show a saved job in the form (what Resume runs). */
function fillFromJob(r: SavedRun): void {
  const j = r.job;
  const pick = (el: HTMLInputElement | HTMLSelectElement, v: string) => { el.value = v; el.dispatchEvent(new Event('change')); };
  if (j.customTask !== undefined) { customText.value = j.customTask; pick(fields.task, CUSTOM); } else if (catalog!.tasks.some((t) => t.name === j.task)) pick(fields.task, j.task);
  if ([...fields.model.options].some((o) => o.value === j.model)) pick(fields.model, j.model);
  pick(fields.method, j.method);
  for (const o of methodEntry()?.options ?? []) {
    const v = j.own[o.key];
    if (v === undefined) ownValues.delete(o.flag); else ownValues.set(o.flag, typeof v === 'boolean' ? v : String(v));
  }
  renderOwnOptions();
  fields.n.value = String(j.n);
  fields.seed.value = String(j.seed);
  fields.threshold.value = j.threshold !== undefined ? String(j.threshold) : '';
  fields.topN.value = j.topN !== undefined ? String(j.topN) : '';
  fields.batchSize.value = j.batchSize !== undefined ? String(j.batchSize) : '';
  fields.evaluate.checked = j.evaluate !== false;
  pick(fields.ablation, j.ablation);
  if ([...fields.backend.options].some((o) => o.value === j.backend)) pick(fields.backend, j.backend);
}

// ---------------------------------------------------------------------------------------------
// Results

/** What the graph shows: a run's circuit file (with its evaluation and plots), or an imported one. */
let shown: { file: CircuitFile; scores: Map<string, number> | null; run: RunOutput | null } | null = null;
/** A run's evaluation and plots, as the worker sent them with the circuit. */
interface RunOutput { evaluation: Evaluation | null; plots: Plots }
const tip = $<HTMLDivElement>('tip');
const view = new GraphView(document.getElementById('graph') as unknown as SVGSVGElement, {
  nLayers: 1,
  onHead: (node) => void showAttention(node),
  onHover: (text, ev) => {
    if (text === null) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    const box = $('graph-panel').getBoundingClientRect();
    tip.style.left = `${ev.clientX - box.left + 14}px`;
    tip.style.top = `${ev.clientY - box.top + 12}px`;
  },
});
const slider = $<HTMLInputElement>('slider');

/** Show a circuit: a run's (`run`: its evaluation and plots) or an opened file's (null). */
function showResult(file: CircuitFile, run: RunOutput | null): void {
  const how = run ? 'run' : 'import';
  const text = JSON.stringify(file, null, 1) + '\n';
  cs.resultText = text;
  cs.result = JSON.parse(text) as CircuitFile;
  const r = file.results;
  const sel = file.topN !== null ? `top-n ${file.topN}` : file.threshold !== null ? `threshold ${fmtThreshold(file.threshold)}` : 'default selection';
  $('summary').textContent = `${file.method} on ${file.model}, task ${file.task}: ${r ? `${r.edgesKept} of ${r.edgesTotal}` : file.edges.filter((e) => e.inCircuit).length} edges kept (${sel}; ${file.metric}, ${file.ablation} ablation, n=${file.n}; ${file.backend})${how === 'import' ? ' — opened from a file' : ''}`;
  const f = (x: number | null | undefined) => fmtNum(x ?? null, 4, 1e-9);
  const rows: [string, string][] = r ? [
    [`metric (${r.metric}): clean`, f(r.clean)],
    ['corrupted', f(r.corrupted)],
    ['circuit', f(r.circuit)],
    ['faithfulness', f(r.faithfulness)],
    ['KL(clean || circuit)', f(r.klCircuit)],
    ['edges kept', `${r.edgesKept} / ${r.edgesTotal}`],
    ['forward passes', f(r.forwards)],
    ['discovery time', `${fmtNum(r.seconds, 3)} s`],
    ['total time', `${fmtNum(r.wall?.total ?? null, 3)} s`],
  ] : [['results', 'none in this file']];
  const mt = $('metrics').querySelector('tbody')!;
  mt.replaceChildren(...rows.map(([k, v]) => row([k, v])));
  const kept = file.edges.filter((e) => e.inCircuit);
  $('edge-count').textContent = `(${kept.length})`;
  $('edges').querySelector('tbody')!.replaceChildren(...kept.map((e) => row([e.to, e.from, e.score === null || e.score === undefined ? '—' : fmtNum(e.score, 4, 1e-12)])));
  $('results').hidden = false;

  // the graph, and the slider for scored methods: the connected top-n over the file's scores
  const kind = catalog?.methods.find((m) => m.name === file.method)?.kind;
  const scored = file.edges.filter((e) => e.score !== null && Number.isFinite(e.score));
  const scores = kind !== 'prune' && scored.length > 0 ? new Map(scored.map((e) => [`${e.from}->${e.to}`, e.score!])) : null;
  shown = { file, scores, run };
  cs.evaluation = run?.evaluation ?? null;
  showPlots(run);
  view.setLayers(file.modelConfig?.nLayers ?? 1);
  $('slider-box').hidden = scores === null;
  if (scores) {
    const counts = connectedCounts(rankByScore(scores));
    slider.max = String(Math.max(1, counts[counts.length - 1]));
    slider.value = String(Math.min(Number(slider.max), file.topN ?? kept.length));
    $('slider-value').textContent = `${kept.length}`;
  }
  if (how === 'import') runContext = null;
  cs.reference = null;
  cs.attention = null;
  $('attention').hidden = true;
  void drawEdges(kept, null);
  void loadReference(file);
  if (how === 'run') status.textContent = `done in ${elapsed()}${cs.checkpoint?.resumedFrom ? ` (resumed from its checkpoint at ${cs.checkpoint.resumedFrom.done}/${cs.checkpoint.resumedFrom.total})` : ''}`;
  setState('done');
}

/** The edges drawn now and the slider's value that chose them. */
let current: { edges: CircuitEdge[]; topN: number | null } = { edges: [], topN: null };
const refToggle = $<HTMLInputElement>('ref-toggle');

/** Draw these edges (with the reference overlaid when there is one and the toggle is on); `topN` is the slider's value when it chose them. */
async function drawEdges(edges: CircuitEdge[], topN: number | null): Promise<void> {
  current = { edges, topN };
  document.body.dataset.graph = 'drawing';
  try {
    const ref = cs.reference?.edges && refToggle.checked ? new Set(cs.reference.edges) : null;
    if (!(await view.draw(edges, ref))) return;
    cs.view = { edges: [...view.drawn], topN };
    if (cs.reference) Object.assign(cs.reference, { shown: ref !== null, missing: view.overlay?.missing ?? [], extra: view.overlay?.extra ?? [] });
    showReferenceInfo();
    document.body.dataset.graph = 'drawn';
  } catch (e) {
    fail(`web: drawing the graph failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The reference overlay: the task's published circuit when it fits the model, or a file

/** Ask the worker for the reference of the shown circuit (or of `json`, a file the user opened), then redraw. */
async function loadReference(file: CircuitFile, json?: { text: string; name: string }): Promise<void> {
  document.body.dataset.reference = 'loading';
  try {
    const m = file.modelConfig;
    const run = shown?.file === file ? shown.run : null;
    const r = await request<'reference'>({
      type: 'reference', id: 0, task: file.task, shape: { nLayers: m.nLayers, nHeads: m.nHeads, attnOnly: m.attnOnly }, splitEmbed: file.splitEmbed,
      ...(json ? { json: json.text, name: json.name } : {}),
      ...(run?.evaluation ? { evaluate: { circuit: { edges: file.edges, splitEmbed: file.splitEmbed, modelConfig: file.modelConfig }, evaluation: run.evaluation } } : {}),
    });
    if (shown?.file !== file) return;
    let { edges, note } = r;
    if (edges) {
      // only edges of the circuit's graph can be drawn against it
      const universe = new Set(file.edges.map((e) => `${e.from}->${e.to}`));
      const outside = edges.filter((e) => !universe.has(e));
      if (outside.length > 0 && universe.size > 0 && file.edges.some((e) => !e.inCircuit)) { note = `the reference '${r.name}' has ${outside.length} edge${outside.length === 1 ? '' : 's'} outside this circuit's graph (${outside.slice(0, 3).join(', ')}${outside.length > 3 ? ', …' : ''})`; edges = null; }
    }
    cs.reference = { name: r.name, edges, note, shown: false, missing: [], extra: [] };
    // the ROC against this reference; without one that fits, the run's own (the task's reference, if it fitted)
    if (run?.evaluation) showRoc(edges && r.roc ? r.roc : { evaluation: run.evaluation, svg: run.plots.roc });
    await drawEdges(current.edges, current.topN);
    document.body.dataset.reference = edges ? 'ready' : 'none';
  } catch (e) {
    cs.reference = { name: null, edges: null, note: e instanceof Error ? e.message : String(e), shown: false, missing: [], extra: [] };
    showReferenceInfo();
    document.body.dataset.reference = 'none';
  }
}

function showReferenceInfo(): void {
  const info = $('ref-info'), r = cs.reference;
  $('ref-toggle-box').hidden = !r?.edges;
  if (!r) { info.textContent = ''; return; }
  if (!r.edges) { info.textContent = `no reference fits this model${r.note ? ` (${r.note})` : ''}`; info.title = r.note ?? ''; return; }
  info.title = r.name ?? '';
  info.textContent = r.shown ? `reference ${r.name}: ${r.edges.length} edges; ${r.missing.length} missing (dashed grey), ${r.extra.length} extra (red halo)` : `reference ${r.name}: ${r.edges.length} edges (hidden)`;
}

refToggle.addEventListener('change', () => { if (shown) void drawEdges(current.edges, current.topN); });
$<HTMLInputElement>('ref-file').addEventListener('change', async (ev) => {
  const input = ev.target as HTMLInputElement;
  const f = input.files?.[0];
  if (!f || !shown) return;
  try { await loadReference(shown.file, { text: await f.text(), name: f.name }); } finally { input.value = ''; }
});

// ---------------------------------------------------------------------------------------------
// Plots: faithfulness vs edges and the edge ROC (SVG from the worker: src/eval/html.ts)

/** A run's plots, or none (an opened circuit file, or a run with evaluate off, has no evaluation). */
function showPlots(run: RunOutput | null): void {
  const evaluation = run?.evaluation ?? null;
  $('plots').hidden = evaluation === null;
  if (!run || !evaluation) return;
  const curve = evaluation.curve;
  setPlot('curve-plot', run.plots.curve, curve
    ? `MIB's circuit sizes; edges ranked by ${curve.ranking}; each circuit pruned of dangling nodes.`
    : 'No faithfulness curve: the edges carry no scores, or the full model and the empty circuit score the same.');
  showRoc({ evaluation, svg: run.plots.roc });
}

function showRoc(roc: { evaluation: Evaluation; svg: string | null }): void {
  cs.evaluation = roc.evaluation;
  const r = roc.evaluation.reference;
  setPlot('roc-plot', roc.svg, r
    ? `${r.ranking ? 'Edges ranked by |score|, each top-n connected' : 'The circuit\'s edges carry no scores: its single point and the pessimistic staircase'}; the circuit itself is the red point (TPR ${fmtNum(r.vs.edges.tpr, 3)}, FPR ${fmtNum(r.vs.edges.fpr, 3)}).`
    : 'No edge ROC: no reference circuit fits this model (open one with Reference… above the graph).');
}

/** One figure: the SVG (parsed, not set as HTML) and its caption. */
function setPlot(id: string, svg: string | null, caption: string): void {
  const fig = $(id);
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  const node = svg ? document.importNode(new DOMParser().parseFromString(svg, 'image/svg+xml').documentElement, true) : null;
  fig.replaceChildren(...(node ? [node] : []), cap);
  fig.classList.toggle('empty', node === null);
}

// ---------------------------------------------------------------------------------------------
// Attention: click a head for its pattern on one of the task's prompts

const attIndex = $<HTMLInputElement>('att-index');
let attHead: string | null = null;

async function showAttention(node: string): Promise<void> {
  const p = parseNodeKey(node);
  if (!p || p.kind !== 'head' || !shown) return;
  attHead = node;
  const file = shown.file;
  const ctx = runContext ?? { ref: modelRef(), task: file.task, seed: file.seed };
  const index = Number(attIndex.value);
  const box = $('attention');
  box.hidden = false;
  $('att-title').textContent = `${node}: attention on prompt ${index} of ${ctx.task} (seed ${ctx.seed})`;
  $('att-note').textContent = 'computing…';
  document.body.dataset.attention = 'running';
  try {
    if (!Number.isInteger(index) || index < 0) throw new Error(`prompt must be an integer >= 0, got '${attIndex.value}'`);
    const r = await request<'attention'>({ type: 'attention', id: 0, ref: ctx.ref, task: ctx.task, customTask: ctx.customTask, seed: ctx.seed, index, layer: p.layer, head: p.head! });
    if (attHead !== node) return;
    cs.attention = { head: r.name, index, seed: ctx.seed, task: ctx.task, tokens: r.tokens, strTokens: r.strTokens, pattern: r.pattern };
    $('att-note').textContent = `${r.tokens.length} tokens; rows: destination (query), columns: source (key); hover a cell for its weight`;
    $('att-table').replaceChildren(...heatmap(r.strTokens, r.pattern));
    document.body.dataset.attention = 'done';
  } catch (e) {
    $('att-note').textContent = e instanceof Error ? e.message : String(e);
    $('att-table').replaceChildren();
    document.body.dataset.attention = 'error';
  }
}

/** The pattern as table rows: a header of source tokens, then one row per destination (cells shaded by weight, the causal upper triangle blank). */
function heatmap(tokens: string[], pattern: number[][]): HTMLTableRowElement[] {
  const label = (t: string, i: number) => `${i} ${t.replace(/ /g, '·').replace(/\n/g, '↵')}`;
  const head = document.createElement('tr');
  head.append(document.createElement('th'));
  tokens.forEach((t, j) => { const th = document.createElement('th'); th.className = 'src'; th.textContent = label(t, j); head.append(th); });
  const rows = pattern.map((r, i) => {
    const tr = document.createElement('tr');
    const th = document.createElement('th'); th.textContent = label(tokens[i], i); tr.append(th);
    r.forEach((w, j) => {
      const td = document.createElement('td');
      if (j > i) td.className = 'future';
      else {
        td.style.background = `rgba(178, 34, 34, ${Math.min(1, Math.max(0, w)).toFixed(3)})`;
        td.style.color = w > 0.55 ? '#fff' : '#1d2230';
        td.textContent = w >= 0.005 ? w.toFixed(2).replace(/^0/, '') : '';
        td.title = `${label(tokens[i], i)} <- ${label(tokens[j], j)}: ${fmtNum(w, 4)}`;
      }
      tr.append(td);
    });
    return tr;
  });
  return [head, ...rows];
}

attIndex.addEventListener('change', () => { if (attHead) void showAttention(attHead); });

slider.addEventListener('input', () => {
  if (!shown?.scores) return;
  const n = Number(slider.value);
  const sel = selectConnected(shown.scores, n);
  $('slider-value').textContent = `${sel.kept}${sel.kept !== n ? ` (asked ${n})` : ''}`;
  void drawEdges(shown.file.edges.filter((e) => sel.edges.has(`${e.from}->${e.to}`)), n);
});

/** The shown file with inCircuit as drawn (the slider's selection), for the DOT and MIB writers. */
function drawnFile(): CircuitFile {
  const file = shown!.file, drawn = new Set(view.drawn);
  return { ...file, edges: file.edges.map((e) => ({ ...e, inCircuit: drawn.has(`${e.from}->${e.to}`) })) };
}

function save(name: string, data: string | Blob, type: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(data instanceof Blob ? data : new Blob([data], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

const stem = () => `circuit-${shown!.file.task}-${shown!.file.method}`;
$('fit').addEventListener('click', () => view.fit());
$('export-svg').addEventListener('click', () => { if (shown) save(`${stem()}.svg`, view.svgText($('summary').textContent ?? ''), 'image/svg+xml'); });
$('export-png').addEventListener('click', async () => {
  if (!shown) return;
  try { save(`${stem()}.png`, await view.pngBlob($('summary').textContent ?? ''), 'image/png'); } catch (e) { fail(e instanceof Error ? e.message : String(e)); }
});
$('export-dot').addEventListener('click', () => { if (shown) save(`${stem()}.dot`, toDot(drawnFile()), 'text/vnd.graphviz'); });
$('export-mib').addEventListener('click', () => { if (shown) save(`${stem()}.mib.json`, JSON.stringify(toMib(drawnFile())) + '\n', 'application/json'); });

/** A circuit file from any circuit JSON the engine reads (a MIB graph or a reference: the edges only). */
function asCircuitFile(json: unknown, name: string): CircuitFile {
  const d = readCircuitJson(json, name);
  if (d.file) return d.file;
  const layers = d.edges.flatMap((e) => [parseNodeKey(e.from)?.layer ?? -1, parseNodeKey(e.to.replace(/<[qkv]>$/, ''))?.layer ?? -1]).filter(Number.isFinite);
  const cfg = (d.meta.cfg ?? {}) as { n_layers?: number; n_heads?: number; d_model?: number };
  return {
    format: 'circuitscope-circuit', version: 1, model: name, task: '—', method: d.format,
    modelConfig: { nLayers: cfg.n_layers ?? Math.max(0, ...layers) + 1, nHeads: cfg.n_heads ?? 0, dModel: cfg.d_model ?? 0, attnOnly: false },
    threshold: null, topN: null, metric: '—', ablation: '—', splitEmbed: false, n: 0, seed: 0, backend: '—', processing: [], createdAt: '',
    nodes: [], edges: d.edges, results: undefined as unknown as CircuitFile['results'],
  };
}

$<HTMLInputElement>('import').addEventListener('change', async (ev) => {
  const input = ev.target as HTMLInputElement;
  const f = input.files?.[0];
  if (!f) return;
  try {
    let json: unknown;
    try { json = JSON.parse(await f.text()); } catch (e) { throw new Error(`circuit: ${f.name}: not valid JSON (${(e as Error).message})`); }
    $('error').hidden = true;
    cs.error = null;
    showResult(asCircuitFile(json, f.name), null);
    status.textContent = `opened ${f.name}`;
  } catch (e) {
    fail(e instanceof Error ? e.message : String(e));
  } finally {
    input.value = '';
  }
});

function row(cells: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
  return tr;
}

$('download').addEventListener('click', () => {
  if (!cs.resultText || !cs.result) return;
  save(`circuit-${cs.result.task}-${cs.result.method}.json`, cs.resultText, 'application/json');
});

// ---------------------------------------------------------------------------------------------
// A local model: files or a folder, picked or dropped

/** Load the user's model files in the worker; whether they loaded (else the one-line error is shown, and in `modelError`). */
async function useFiles(files: PickedFile[]): Promise<boolean> {
  if (files.length === 0) return false;
  const info = $('model-info');
  info.textContent = `reading ${files.length} file${files.length === 1 ? '' : 's'}…`;
  document.body.dataset.model = 'loading';
  try {
    picked = files;
    const r = await request<'files'>({ type: 'files', id: 0, files, backend: fields.backend.value, base: base() });
    cs.localModel = r.summary;
    cs.modelError = null;
    localSpec = r.spec;
    info.textContent = `loaded ${r.summary}`;
    if (![...fields.model.options].some((o) => o.value === LOCAL_MODEL)) option(fields.model, LOCAL_MODEL, 'your model (files)');
    [...fields.model.options].find((o) => o.value === LOCAL_MODEL)!.textContent = `your model: ${r.spec}`;
    fields.model.value = LOCAL_MODEL;
    document.body.dataset.model = 'loaded';
    return true;
  } catch (e) {
    picked = null;
    localSpec = null;
    modelFailed(e);
    return false;
  }
}

/** The user's model did not load: one line in the panel (and `modelError`). */
function modelFailed(e: unknown): void {
  cs.modelError = e instanceof Error ? e.message : String(e);
  $('model-info').textContent = cs.modelError;
  document.body.dataset.model = 'error';
}

/** The folder or repo the loaded local model came from ('hf-save', 'gpt2'); null when none is loaded. */
let localSpec: string | null = null;

// The hub: a repo's files fetched here (./hub.ts), then loaded exactly as picked files

const hubRepo = $<HTMLInputElement>('hub-repo');
const hubBase = $<HTMLInputElement>('hub-base');
const mb = (b: number) => fmtNum(b / 1e6, 3);

async function fetchHub(): Promise<boolean> {
  ($('model-panel') as HTMLDetailsElement).open = true;
  document.body.dataset.model = 'loading';
  const info = $('model-info');
  info.textContent = `fetching ${hubRepo.value.trim()}…`;
  let files: PickedFile[];
  try {
    files = await fetchHubModel(hubBase.value.trim() || DEFAULT_HUB, hubRepo.value, (file, loaded, size) => {
      info.textContent = `fetching ${file}: ${mb(loaded)}${size ? ` of ${mb(size)}` : ''} MB…`;
    });
  } catch (e) {
    modelFailed(e);
    return false;
  }
  return useFiles(files);
}

$('hub-fetch').addEventListener('click', () => void fetchHub());
hubRepo.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); void fetchHub(); } });

const pickedOf = (list: FileList | null): PickedFile[] => [...(list ?? [])].map((file) => ({ path: file.webkitRelativePath || file.name, file }));
for (const id of ['model-files', 'model-folder']) {
  $<HTMLInputElement>(id).addEventListener('change', (ev) => { void useFiles(pickedOf((ev.target as HTMLInputElement).files)); });
}

/** The files of dropped items, folders walked (webkitGetAsEntry), with their paths. */
async function droppedFiles(items: DataTransferItemList): Promise<PickedFile[]> {
  const out: PickedFile[] = [];
  const walk = async (entry: FileSystemEntry, path: string): Promise<void> => {
    if (entry.isFile) {
      out.push({ path: path + entry.name, file: await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej)) });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${path}${entry.name}/`);
      }
    }
  };
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  for (const e of entries) await walk(e, '');
  return out;
}

const drop = $('drop');
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  if (ev.dataTransfer) void droppedFiles(ev.dataTransfer.items).then(useFiles);
});

$('predict').addEventListener('click', async () => {
  const text = $<HTMLInputElement>('prompt').value;
  document.body.dataset.logits = 'running';
  try {
    const r = await request<'logits'>({ type: 'logits', id: 0, ref: modelRef(), text, top: 10 });
    cs.logits = { tokens: r.tokens, top: r.top };
    $('tokens').textContent = '';
    $('tokens').append(`${r.tokens.length} tokens: `, ...chips(r.strTokens));
    $('top').querySelector('tbody')!.replaceChildren(...r.top.map((t, i) => row([String(i + 1), String(t.id), JSON.stringify(t.token), fmtNum(t.logit, 6), fmtNum(t.prob, 4)])));
    $('top').hidden = false;
    document.body.dataset.logits = 'done';
  } catch (e) {
    $('tokens').textContent = e instanceof Error ? e.message : String(e);
    document.body.dataset.logits = 'error';
  }
});

/** Token strings as chips (spaces shown as ·). */
function chips(tokens: readonly string[]): HTMLElement[] {
  return tokens.map((t) => { const s = document.createElement('span'); s.className = 'tok'; s.textContent = t.replace(/ /g, '·').replace(/\n/g, '↵'); return s; });
}

// ---------------------------------------------------------------------------------------------
// The custom task editor: tokenised and checked by the worker, as `--data` is

const CUSTOM = 'custom';
const customText = $<HTMLTextAreaElement>('custom-text');

async function checkCustom(): Promise<void> {
  const err = $('custom-error');
  $('custom-status').textContent = 'checking…';
  document.body.dataset.task = 'checking';
  try {
    const r = await request<'task-check'>({ type: 'task-check', id: 0, ref: modelRef(), text: customText.value });
    cs.taskCheck = { rows: r.rows, error: r.error };
    const cell = (toks: string[] | null) => { const td = document.createElement('td'); if (toks) td.append(`${toks.length}: `, ...chips(toks)); else td.textContent = 'cannot tokenise'; return td; };
    $('custom-tokens').querySelector('tbody')!.replaceChildren(...r.rows.map((p, i) => {
      const tr = document.createElement('tr');
      const td = (t: string) => { const c = document.createElement('td'); c.textContent = t; return c; };
      tr.append(td(String(i)), cell(p.clean), cell(p.corrupt), td(JSON.stringify(p.answer)), td(p.wrong.map((w) => JSON.stringify(w)).join(', ')));
      return tr;
    }));
    $('custom-tokens').hidden = false;
    err.textContent = r.error ?? '';
    err.hidden = r.error === null;
    $('custom-status').textContent = r.error ? '' : `${r.name}: ${r.rows.length} prompts, metric ${r.metric}: ok`;
    document.body.dataset.task = r.error ? 'invalid' : 'valid';
  } catch (e) {
    cs.taskCheck = { rows: [], error: e instanceof Error ? e.message : String(e) };
    err.textContent = cs.taskCheck.error;
    err.hidden = false;
    $('custom-tokens').hidden = true;
    $('custom-status').textContent = '';
    document.body.dataset.task = 'invalid';
  }
}

let checkTimer: ReturnType<typeof setTimeout> | undefined;
customText.addEventListener('input', () => { clearTimeout(checkTimer); checkTimer = setTimeout(() => void checkCustom(), 500); });
$('custom-check').addEventListener('click', () => void checkCustom());
$('custom-use').addEventListener('click', () => { fields.task.value = CUSTOM; fields.task.dispatchEvent(new Event('change')); void checkCustom(); });

// ---------------------------------------------------------------------------------------------
// Activation patching: one prompt of the form's task on its model, `circuitscope patch`'s sweeps
// (run in the worker by the CLI's engine function) and its heatmaps (drawn there by the same
// renderer, src/analysis/patch-report.ts)

const patchFields = {
  index: $<HTMLInputElement>('patch-index'), position: $<HTMLInputElement>('patch-position'), mode: $<HTMLSelectElement>('patch-mode'),
  senders: $<HTMLInputElement>('patch-senders'), receivers: $<HTMLInputElement>('patch-receivers'), kinds: $<HTMLSpanElement>('patch-kinds'),
};
/** what each kind sweeps (as `patch --kind` describes it) */
const KIND_TITLES: Record<string, string> = {
  resid: 'resid_pre by layer x position',
  heads: "each head's output (hook_z, all positions)",
  qkv: "each head's query, key and value inputs",
  pattern: "each head's attention pattern",
  path: 'path patching: each head -> logits, plus the senders into every later head (or into the receivers)',
};

/** The kinds' checkboxes and the modes, from the catalog (resid and heads ticked). */
function fillPatchForm(): void {
  patchFields.kinds.replaceChildren(...catalog!.patchKinds.filter((k) => k !== 'all').map((k) => {
    const label = document.createElement('label');
    label.className = 'inline';
    label.title = KIND_TITLES[k] ?? '';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = k;
    box.checked = k === 'resid' || k === 'heads';
    label.append(box, ` ${k}`);
    return label;
  }));
  for (const m of catalog!.patchModes) option(patchFields.mode, m);
}

const splitList = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x !== '');

/** The panel from the URL: &patch=resid,heads (or all) ticks the kinds; &patch-index= &patch-position= &patch-mode= &senders= &receivers=. */
function patchFromUrl(q: URLSearchParams): void {
  const kinds = q.get('patch');
  if (kinds !== null) {
    const want = splitList(kinds);
    const known = catalog!.patchKinds as readonly string[];
    const bad = want.find((k) => !known.includes(k));
    if (bad !== undefined) throw new Error(`web: ?patch=${kinds}: '${bad}' is not one of ${known.join(', ')}`);
    for (const box of patchFields.kinds.querySelectorAll<HTMLInputElement>('input')) box.checked = want.includes(box.value) || want.includes('all');
  }
  const set = (el: HTMLInputElement | HTMLSelectElement, key: string) => {
    const v = q.get(key);
    if (v === null) return;
    if (el instanceof HTMLSelectElement && ![...el.options].some((o) => o.value === v)) throw new Error(`web: ?${key}=${v} is not one of ${[...el.options].map((o) => o.value).join(', ')}`);
    el.value = v;
  };
  set(patchFields.index, 'patch-index');
  set(patchFields.position, 'patch-position');
  set(patchFields.mode, 'patch-mode');
  set(patchFields.senders, 'senders');
  set(patchFields.receivers, 'receivers');
}

let patchSeq = 0;

/** Run the panel's patching in the worker and show it; the numbers go to `window.circuitscope.patching`. */
async function patchNow(): Promise<void> {
  const seq = ++patchSeq;
  ($('patch-panel') as HTMLDetailsElement).open = true;
  const note = $('patch-status');
  document.body.dataset.patching = 'running';
  note.textContent = 'patching…';
  const t = performance.now();
  try {
    const int = (el: HTMLInputElement, name: string) => {
      const v = Number(el.value);
      if (el.value.trim() === '' || !Number.isInteger(v) || v < 0) throw new Error(`${name} must be an integer >= 0, got '${el.value}'`);
      return v;
    };
    const index = int(patchFields.index, 'prompt'), position = int(patchFields.position, 'metric position'), seed = int(fields.seed, 'seed');
    const kinds = [...patchFields.kinds.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => b.value as PatchKind);
    if (kinds.length === 0) throw new Error('patch: tick at least one kind of patching');
    const task = fields.task.value;
    const r = await request<'patch'>({
      type: 'patch', id: 0, ref: modelRef(), task, customTask: task === CUSTOM ? customText.value : undefined, seed, index, position,
      kinds, mode: patchFields.mode.value as PatchMode, senders: splitList(patchFields.senders.value), receivers: splitList(patchFields.receivers.value),
    });
    if (seq !== patchSeq) return;
    cs.patching = { ...r.output, source: { task, seed, index, position } };
    cs.patchError = null;
    const o = r.output, p = o.prompts[0];
    $('patch-prompt').replaceChildren(
      `prompt ${index} of ${task === CUSTOM ? 'the custom task' : task} (seed ${seed}), metric position ${position} of ${r.positions} (token ${p.position}): `,
      ...labelled('clean', r.text.clean), ...labelled('corrupted', r.text.corrupt), ...labelled('answer', JSON.stringify(r.text.answer)), ...labelled('wrong', JSON.stringify(r.text.wrong)),
    );
    const f = (x: number) => fmtNum(x, 4, 1e-9);
    $('patch-facts').querySelector('tbody')!.replaceChildren(...([
      ['mode', `${o.mode} (${o.mode === 'denoise' ? 'corrupted run, clean activations patched in; unpatched = 0' : 'clean run, corrupted activations patched in; unpatched = 1'})`],
      [`${o.metric}: clean`, f(o.clean)], [`${o.metric}: corrupted`, f(o.corrupted)],
      ['normalised', o.normalisation], ['backend', o.backend], ['time', `${fmtNum(o.seconds, 3)} s`],
    ] as [string, string][]).map(([k, v]) => row([k, v])));
    $('patch-facts').hidden = false;
    // the SVGs parsed, not set as HTML (one figure per sweep, one shared colour scale)
    $('patch-plots').replaceChildren(...r.svgs.map((x) => {
      const fig = document.createElement('figure');
      fig.dataset.sweep = x.name;
      fig.append(document.importNode(new DOMParser().parseFromString(x.svg, 'image/svg+xml').documentElement, true));
      return fig;
    }));
    note.textContent = `${r.svgs.length} heatmap${r.svgs.length === 1 ? '' : 's'} in ${fmtNum((performance.now() - t) / 1000, 3)} s; hover a cell for its value`;
    document.body.dataset.patching = 'done';
  } catch (e) {
    if (seq !== patchSeq) return;
    cs.patching = null;
    cs.patchError = e instanceof Error ? e.message : String(e);
    note.textContent = cs.patchError;
    $('patch-plots').replaceChildren();
    $('patch-facts').hidden = true;
    document.body.dataset.patching = 'error';
  }
}

/** `name: text` as a label and a chip. */
function labelled(name: string, text: string): (string | HTMLElement)[] {
  const b = document.createElement('b');
  b.textContent = ` ${name} `;
  const c = document.createElement('span');
  c.className = 'tok';
  c.textContent = text;
  return [b, c];
}

$('patch-run').addEventListener('click', () => void patchNow());

// ---------------------------------------------------------------------------------------------

setState('loading');
status.textContent = 'loading the engine…';
startWorker()
  .then(fillForm)
  .then(async () => {
    // the saved runs are offered before the page says it is idle (a script, or a test, reading
    // `saved` on 'idle' sees them)
    await refreshSaved();
    setState('idle');
    status.textContent = '';
    const asked = fromUrl();
    if (asked.hf !== null && !(await fetchHub()) && (asked.run || asked.resume)) { fail(cs.modelError!); return; }
    if (asked.patch) await patchNow();
    if (asked.run || asked.resume) void run(asked.resume);
  })
  .catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
