/**
 * The page: a form for one discovery run, the engine in a Web Worker (./worker.ts), progress,
 * Cancel (terminates the worker), the metrics and the kept edges, and the circuit JSON exactly
 * as `circuitscope discover --out` writes it. The result is drawn as an interactive graph
 * (./graph-view.ts) with, for scored methods, a slider that re-selects the connected top-n
 * live (`selectConnected`, the CLI's `--top-n`); the drawn edges export as SVG, and through the
 * engine's writers as DOT and MIB graph JSON; a circuit JSON written by the CLI can be opened.
 * A local model (files or a folder, picked or dropped) is loaded in the worker; a prompt shows
 * its next-token prediction; the custom task editor tokenises and checks prompts as `--data`.
 *
 * Scriptable: `?model=permute-lists-2l&task=permute-lists&method=acdc&n=20&threshold=0.01
 * &ablation=resample&run=1` fills the form and starts the run; when it ends
 * `window.circuitscope.result` holds the circuit file and `document.body.dataset.state` is
 * `done` (or `error`, with the message in `window.circuitscope.error`).
 */
import { fmtNum, fmtThreshold } from '../src/util/format.js';
import { readCircuitJson, toDot, toMib, type CircuitEdge, type CircuitFile } from '../src/graph/circuit-file.js';
import { connectedCounts, rankByScore, selectConnected } from '../src/graph/selection.js';
import { parseNodeKey } from '../src/graph/names.js';
import { GraphView } from './graph-view.js';
import { LOCAL_MODEL, type Catalog, type FromWorker, type ModelRef, type PickedFile, type Reply, type RunJob, type ShippedModelIndex, type TaskRow, type ToWorker, type TopToken } from './protocol.js';

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

const cs: CircuitscopeGlobal = { state: 'loading', result: null, error: null, resultText: null, backend: null, view: null, logits: null, taskCheck: null, localModel: null };
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
    base: base(),
  };
  if (job.task === CUSTOM) job.customTask = customText.value;
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
  cs.result = null; cs.resultText = null; cs.error = null; cs.view = null;
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

/** What the graph shows: a run's circuit file, or an imported one. */
let shown: { file: CircuitFile; scores: Map<string, number> | null } | null = null;
const tip = $<HTMLDivElement>('tip');
const view = new GraphView(document.getElementById('graph') as unknown as SVGSVGElement, {
  nLayers: 1,
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

function showResult(file: CircuitFile, how: 'run' | 'import' = 'run'): void {
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
  shown = { file, scores };
  view.setLayers(file.modelConfig?.nLayers ?? 1);
  $('slider-box').hidden = scores === null;
  if (scores) {
    const counts = connectedCounts(rankByScore(scores));
    slider.max = String(Math.max(1, counts[counts.length - 1]));
    slider.value = String(Math.min(Number(slider.max), file.topN ?? kept.length));
    $('slider-value').textContent = `${kept.length}`;
  }
  void drawEdges(kept, null);
  if (how === 'run') status.textContent = `done in ${elapsed()}`;
  setState('done');
}

/** Draw these edges; `topN` is the slider's value when it chose them. */
async function drawEdges(edges: CircuitEdge[], topN: number | null): Promise<void> {
  document.body.dataset.graph = 'drawing';
  try {
    if (!(await view.draw(edges))) return;
    cs.view = { edges: [...view.drawn], topN };
    document.body.dataset.graph = 'drawn';
  } catch (e) {
    fail(`web: drawing the graph failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

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

function save(name: string, text: string, type: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

const stem = () => `circuit-${shown!.file.task}-${shown!.file.method}`;
$('fit').addEventListener('click', () => view.fit());
$('export-svg').addEventListener('click', () => { if (shown) save(`${stem()}.svg`, view.svgText($('summary').textContent ?? ''), 'image/svg+xml'); });
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
    showResult(asCircuitFile(json, f.name), 'import');
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

async function useFiles(files: PickedFile[]): Promise<void> {
  if (files.length === 0) return;
  const info = $('model-info');
  info.textContent = `reading ${files.length} file${files.length === 1 ? '' : 's'}…`;
  document.body.dataset.model = 'loading';
  try {
    picked = files;
    const r = await request<'files'>({ type: 'files', id: 0, files, backend: fields.backend.value, base: base() });
    cs.localModel = r.summary;
    info.textContent = `loaded ${r.summary}`;
    if (![...fields.model.options].some((o) => o.value === LOCAL_MODEL)) option(fields.model, LOCAL_MODEL, 'your model (files)');
    [...fields.model.options].find((o) => o.value === LOCAL_MODEL)!.textContent = `your model: ${r.spec}`;
    fields.model.value = LOCAL_MODEL;
    document.body.dataset.model = 'loaded';
  } catch (e) {
    picked = null;
    info.textContent = e instanceof Error ? e.message : String(e);
    document.body.dataset.model = 'error';
  }
}

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
