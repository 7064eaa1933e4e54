/**
 * The engine in a Web Worker: the same src/ modules the CLI runs (model loaders reading bytes,
 * the task registry, discovery, the circuit file), so the page never freezes. Model files are
 * fetched from the app's own server into memory (`memoryFiles`), or are the user's (picked, or
 * fetched from the Hugging Face hub by the page: ./hub.ts), read as picked files. A run of a
 * method that checkpoints saves its checkpoint in IndexedDB as it goes (./checkpoints.ts), can
 * resume from it, and deletes it when it completes. A preset name (`gpt2-small`) is the CLI's
 * preset: the shape with random weights (seed 0), made here. Activation patching (`patch`
 * requests) runs `circuitscope patch`'s engine function (src/analysis/patch-run.ts) on one prompt
 * of the task and draws its heatmaps with the same renderer (`sweepSvgs`).
 */
import { initBackendWith, backendChoice, type BackendHost } from '../src/model/backend-core.js';
import { probeNavigatorGpu, type BackendName, type BackendProbe } from '../src/model/backend-choice.js';
import { memoryFiles } from '../src/model/loaders/files.js';
import { loadModelFrom, type LoadedModel } from '../src/model/from-files.js';
import type { ModelFiles } from '../src/model/loaders/files.js';
import { tokenizerFor } from '../src/model/tokenizer.js';
import { getTask, listTasks } from '../src/tasks/registry.js';
import { customTask, parseCustomTask } from '../src/tasks/custom.js';
import { validateBatch, type Task } from '../src/tasks/types.js';
import { discover, ownOptions } from '../src/discovery/run.js';
import { checkMethodFlags, getMethod, methodNames, methods } from '../src/discovery/registry.js';
import { LOCAL_MODEL, type FromWorker, type ModelRef, type PickedFile, type Plots, type Reply, type RunJob, type ShippedModelIndex, type TaskRow, type ToWorker } from './protocol.js';
import { nextTokenTop, tokenString } from '../src/model/next-token.js';
import { compatibleReference, reportSections } from '../src/eval/report.js';
import { referenceReport, type Evaluation } from '../src/eval/evaluate.js';
import { curveSvg, rocSvg } from '../src/eval/html.js';
import type { CircuitFile } from '../src/graph/circuit-file.js';
import { mergeEmbed, referenceFromJson, type Reference } from '../src/eval/reference.js';
import { attentionPatterns } from '../src/analysis/attention.js';
import { patchOutput, patchRun, taskPatchBatch } from '../src/analysis/patch-run.js';
import { sweepSvgs } from '../src/analysis/patch-report.js';
import { PATCH_KINDS, PATCH_MODES } from '../src/patching/activation.js';
import { PRESETS } from '../src/model/config.js';
import type { CheckpointStore, OwnMethodOptions } from '../src/discovery/types.js';
import { checkpointsAvailable, deleteRun, getRun, indexedDbCheckpoint, jobKey, modelLabel, savedJob } from './checkpoints.js';

import { browserHost } from './browser-host.js';
import { autoThreads, startThreads } from './engine-threads.js';

const post = (m: FromWorker): void => (self as unknown as { postMessage(m: FromWorker): void }).postMessage(m);


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

// ---------------------------------------------------------------------------------------------
// Models: the shipped ones (fetched), or the files the user picked (read lazily, FileReaderSync)

let local: { files: ModelFiles; spec: string } | null = null;
/** one model kept loaded (the last one asked for), owned here */
let cached: { key: string; loaded: LoadedModel } | null = null;

/** The user's files as a file system, and the path the loaders start from: the folder of config.json, else the weights file. */
function pickedModel(picked: PickedFile[]): { files: ModelFiles; spec: string } {
  if (picked.length === 0) throw new Error('web: no model files were given');
  const entries = picked.map((p) => [`local/${p.path.replace(/^\/+/, '')}`, p.file] as [string, File]);
  const files = memoryFiles(entries);
  const paths = entries.map(([p]) => p).sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  const config = paths.find((p) => p.endsWith('/config.json'));
  const weights = paths.find((p) => /\.(safetensors|pt|pth|bin|ckpt)$/i.test(p));
  if (config) return { files, spec: config.slice(0, config.lastIndexOf('/')) };
  if (weights) return { files, spec: weights };
  throw new Error(`web: none of ${picked.map((p) => p.path).join(', ')} is a model: give config.json with model.safetensors (or a folder holding them), or a weights file`);
}

async function model(ref: ModelRef): Promise<{ loaded: LoadedModel; backend: string }> {
  const backend = await initBackendWith(ref.backend as BackendName, browserHost(ref.base));
  const key = `${ref.model}|${backend}`;
  if (cached?.key === key) return { loaded: cached.loaded, backend };
  cached?.loaded.model.dispose();
  cached = null;
  let loaded: LoadedModel;
  if (ref.model === LOCAL_MODEL) {
    if (!local) throw new Error('web: no local model files were given (pick or drop config.json and model.safetensors)');
    loaded = loadModelFrom(local.files, local.spec, { quiet: true });
  } else if (Object.hasOwn(PRESETS, ref.model)) {
    // the CLI's preset: its shape with random weights (seed 0, as `--model gpt2-small` without --seed)
    loaded = loadModelFrom(memoryFiles([]), ref.model, { quiet: true });
  } else {
    loaded = loadModelFrom(await shippedFiles(ref.base, ref.model), `models/${ref.model}`, { quiet: true });
  }
  cached = { key, loaded };
  return { loaded, backend };
}

/** The user's model by the folder or file it came from ('hf-save'), or 'picked files'. */
const localName = (spec: string) => (spec === 'local' ? 'picked files' : spec.replace(/^local\//, ''));
const modelName = (ref: ModelRef) => (ref.model === LOCAL_MODEL && local ? localName(local.spec) : ref.model);

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
  const own = ownFor(job.method, job.own);
  const ck = await checkpointFor(job);
  stage('load model');
  const { loaded, backend } = await model(job);
  const choice = backendChoice();
  const task = taskOf(job.task, job.customTask);
  // the CLI's --workers: engine threads (Web Workers) split the prompts on wasm and cpu
  const threads = job.threads === 'auto' ? autoThreads(backend) : Math.max(1, job.threads ?? 1);
  let pool: Awaited<ReturnType<typeof startThreads>>;
  if (threads > 1 && (backend === 'wasm' || backend === 'cpu')) {
    stage('workers');
    pool = await startThreads(loaded.model, { threads, backend, rows: job.n, task: job.customTask !== undefined ? { text: job.customTask, name: EDITOR } : { task: job.task }, base: job.base });
  }
  post({ type: 'backend', name: backend, detail: `${choice?.reason ?? backend}; ${(pool?.size ?? 0) + 1} thread${pool ? 's' : ''}` });
  const found = discover(loaded.model, task, {
    pool,
    ...own,
    method: job.method, threshold: job.threshold, topN: job.topN, metric: job.metric, ablation: job.ablation,
    n: job.n, seed: job.seed, modelName: modelName(job), backend, batchSize: job.batchSize,
    checkpoint: ck?.store, resume: job.resume === true,
    onStage: (s) => stage(s === 'method' ? job.method : s),
    onProgress: (p) => {
      if (ck) ck.last = { done: p.done, total: p.total };
      post({ type: 'progress', done: p.done, total: p.total, note: `${p.kept} kept${p.note ? `, ${p.note}` : ''}` });
    },
  });
  let out: Awaited<typeof found>;
  try { out = await found; } catch (e) { pool?.close(); throw e; }
  const { file, evaluator } = out;
  let evaluation: Evaluation | null = null;
  try {
    // discover --html's evaluation (the same call), on the run's evaluator before it is freed:
    // its clean / empty / circuit measurements are reused, only the curve's circuits run
    if (job.evaluate !== false) {
      stage('faithfulness curve');
      ({ evaluation } = await reportSections(loaded.model, task, file, { evaluator }));
    }
  } finally {
    evaluator.dispose();
    pool?.close();
  }
  const plots: Plots = evaluation ? { curve: curveSvg(evaluation), roc: rocSvg(evaluation, 'edge') } : { curve: null, roc: null };
  stage(null);
  file.results.wall = { stages: times, total: (performance.now() - t0) / 1000 };
  // the run is complete: its checkpoint goes (as the CLI removes its file)
  if (ck) await deleteRun(ck.key).catch(() => undefined);
  post({ type: 'done', file, evaluation, plots });
}

/**
 * The job's checkpoint in IndexedDB when its method keeps one (`checkpoints: true`): the store
 * discovery saves through, told the run's latest progress (`last`) to record with each save. A
 * resumed job must have one saved (as the CLI's `--resume` needs its file); the page is told
 * where it continues from.
 */
interface RunCheckpoint { key: string; store: CheckpointStore; last: { done: number; total: number } }

async function checkpointFor(job: RunJob): Promise<RunCheckpoint | null> {
  const method = getMethod(job.method);
  if (!method.checkpoints) {
    if (job.resume) throw new Error(`web: ${job.method} keeps no checkpoint, so there is nothing to resume (methods that do: ${methods().filter((m) => m.checkpoints && !m.aliasOf).map((m) => m.name).join(', ')})`);
    return null;
  }
  if (!(await checkpointsAvailable())) {
    if (job.resume) throw new Error('web: nothing to resume: this browser does not let the page keep data (IndexedDB)');
    return null;
  }
  const label = modelLabel(job, local ? localName(local.spec) : null);
  const key = jobKey(job, label);
  const ck: RunCheckpoint = {
    key, last: { done: 0, total: 0 },
    store: indexedDbCheckpoint({ key, job: savedJob(job), model: label }, () => ck.last, (r) => post({ type: 'checkpoint', event: 'saved', key, done: r.done, total: r.total })),
  };
  if (job.resume) {
    const saved = await getRun(key);
    if (!saved) throw new Error(`web: nothing to resume: no checkpoint is saved for ${job.method} on ${label} with these settings`);
    ck.last = { done: saved.done, total: saved.total };
    post({ type: 'checkpoint', event: 'resumed', key, done: saved.done, total: saved.total });
  }
  return ck;
}

/** Each option key's CLI flag (`trainSteps` -> `train-steps`), over every method. */
const flagOf = new Map(methods().flatMap((m) => m.options.map((o) => [o.key as string, o.flag] as const)));

/**
 * The job's own options as `discover` takes them (`ownOptions`, as the CLI hands them on),
 * after the CLI's check that the method takes each (one line naming the first it does not).
 */
function ownFor(method: string, own: RunJob['own']): OwnMethodOptions {
  checkMethodFlags(method, Object.keys(own).map((k) => flagOf.get(k) ?? k));
  return ownOptions(own);
}

// ---------------------------------------------------------------------------------------------
// Requests

/** The custom task editor's name in messages (`custom task editor: prompts[1]: ...`). */
const EDITOR = 'editor';

function parseJson(text: string): unknown {
  try { return JSON.parse(text); } catch (e) { throw new Error(`custom task ${EDITOR}: not valid JSON (${(e as Error).message})`); }
}

/** The registered task, or the editor's custom task when its JSON is given. */
const taskOf = (name: string, custom: string | undefined): Task => (custom !== undefined ? customTask(parseCustomTask(parseJson(custom), EDITOR), EDITOR) : getTask(name));

/** Top-k of the logits at the prompt's last position, softmax over the whole vocabulary in float64 (as the CLI's `logits`). */
async function logits(ref: ModelRef, text: string, top: number): Promise<Reply> {
  const { loaded } = await model(ref);
  const m = loaded.model, cfg = m.cfg;
  const tok = tokenizerFor(cfg);
  const tokens = cfg.tokenizerName === null
    ? text.split(/[\s,]+/).filter((x) => x !== '').map((x) => { if (!/^\d+$/.test(x)) throw new Error(`web: '${x}' is not a token id (this model takes ids: 12,7,3)`); return Number(x); })
    : tok.toTokens(text, { prependBos: cfg.defaultPrependBos });
  if (tokens.length === 0) throw new Error('web: the prompt is empty');
  if (tokens.length > cfg.nCtx) throw new Error(`web: the prompt is ${tokens.length} tokens, longer than the model's context nCtx=${cfg.nCtx}`);
  for (const t of tokens) if (t >= cfg.dVocab) throw new Error(`web: token id ${t} is outside the model's vocabulary [0, ${cfg.dVocab})`);
  const best = await nextTokenTop(m, tokens, top, tok);
  return { type: 'logits', id: 0, tokens, strTokens: tokens.map((t) => tokenString(tok, t)), top: best };
}

/**
 * The editor's prompts tokenised one by one (shown even when the task is wrong), then built and
 * checked exactly as `--data` is (customTask's build, then validateBatch): the first error.
 */
async function taskCheck(ref: ModelRef, text: string): Promise<Reply> {
  const spec = parseCustomTask(parseJson(text), EDITOR);
  const { loaded } = await model(ref);
  const cfg = loaded.model.cfg;
  const tok = tokenizerFor(cfg);
  const opts = { prependBos: spec.prependBos ?? cfg.defaultPrependBos };
  const strs = (v: string | number[]): string[] | null => {
    try { return typeof v === 'string' ? tok.toStrTokens(v, opts) : v.map((id) => tokenString(tok, id)); } catch { return null; }
  };
  const one = (v: string | number) => (typeof v === 'number' ? tokenString(tok, v) : v);
  const rows: TaskRow[] = spec.prompts.map((p) => ({ clean: strs(p.clean), corrupt: strs(p.corrupt), answer: one(p.answer), wrong: (p.wrong ?? []).map(one) }));
  let error: string | null = null;
  try {
    const task = customTask(spec, EDITOR);
    validateBatch(task.name, task.build({ cfg, tokenizer: tok }, { n: spec.prompts.length, seed: 0 }), cfg);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  return { type: 'task-check', id: 0, name: spec.name, metric: spec.metric, rows, error };
}

/**
 * The reference circuit for a circuit of `task` on a model of `shape`: the task's published one
 * when it fits the shape (`compatibleReference`, as the report's ROC), or the JSON the user gave.
 * Its edges are put on the circuit's embedding split (tok/pos merged into input when only the
 * reference splits it; the other way is ambiguous, so it is refused).
 */
function reference(m: Extract<ToWorker, { type: 'reference' }>): Reply {
  let ref: Reference | null, note: string | null = null;
  if (m.json !== undefined) {
    const name = m.name ?? 'reference';
    let json: unknown;
    try { json = JSON.parse(m.json); } catch (e) { throw new Error(`reference: ${name}: not valid JSON (${(e as Error).message})`); }
    ref = referenceFromJson(json, name);
    const s = ref.shape;
    if (s && (s.nLayers !== m.shape.nLayers || s.nHeads !== m.shape.nHeads || s.attnOnly !== m.shape.attnOnly)) {
      note = `the reference '${ref.name}' is for a ${s.nLayers}-layer, ${s.nHeads}-head model, not this ${m.shape.nLayers}-layer, ${m.shape.nHeads}-head one`;
      ref = null;
    }
  } else {
    let task: Task | null = null;
    try { task = getTask(m.task); } catch { note = `task '${m.task}' is not a registered task, so it has no reference circuit`; }
    if (task) ({ reference: ref, note } = compatibleReference(task, { modelConfig: m.shape } as Pick<CircuitFile, 'modelConfig'>));
    else ref = null;
  }
  if (!ref) return { type: 'reference', id: 0, name: null, source: null, edges: null, note, roc: null };
  let edges = [...ref.edges];
  if (ref.splitEmbed && !m.splitEmbed) edges = [...mergeEmbed(edges)];
  else if (!ref.splitEmbed && m.splitEmbed && edges.some((e) => e.startsWith('input->'))) {
    return { type: 'reference', id: 0, name: ref.name, source: ref.source, edges: null, note: `the reference '${ref.name}' does not split the embedding into tok and pos, but the circuit does`, roc: null };
  }
  return { type: 'reference', id: 0, name: ref.name, source: ref.source, edges, note: null, roc: m.evaluate ? rocAgainst(m.evaluate, ref) : null };
}

/**
 * The run's evaluation with its reference part against `ref` (`referenceReport`, from the files
 * alone, as discover's report computes it) and its edge ROC; null when the reference does not
 * fit the circuit's graph (the page says why: it checks the edges itself before drawing them).
 */
function rocAgainst(ask: NonNullable<Extract<ToWorker, { type: 'reference' }>['evaluate']>, ref: Reference): { evaluation: Evaluation; svg: string | null } | null {
  let evaluation: Evaluation;
  try { evaluation = { ...ask.evaluation, reference: referenceReport(ask.circuit, ref) }; } catch { return null; }
  return { evaluation, svg: rocSvg(evaluation, 'edge') };
}

/** One head's pattern on prompt `index` of the task, as the CLI's `attention --task --index --seed` picks it. */
async function attention(m: Extract<ToWorker, { type: 'attention' }>): Promise<Reply> {
  const { loaded } = await model(m.ref);
  const mdl = loaded.model, cfg = mdl.cfg;
  const task = taskOf(m.task, m.customTask);
  const batch = task.build({ cfg, tokenizer: tokenizerFor(cfg) }, { n: Math.max(2, m.index + 1), seed: m.seed });
  validateBatch(task.name, batch, cfg);
  if (!Number.isInteger(m.index) || m.index < 0 || m.index >= batch.clean.length) throw new Error(`web: prompt ${m.index} is outside the task's ${batch.clean.length} prompts`);
  const lens = batch.meta?.promptLength;
  const len = Array.isArray(lens) && typeof lens[m.index] === 'number' ? (lens[m.index] as number) : batch.clean[m.index].length;
  const tokens = batch.clean[m.index].slice(0, len);
  const r = await attentionPatterns(mdl, tokens, [{ layer: m.layer, head: m.head }]);
  return { type: 'attention', id: 0, name: r.heads[0].name, tokens: r.tokens, strTokens: r.strTokens, pattern: r.heads[0].pattern };
}

/**
 * Activation / path patching on prompt `index` of the task (built as attention's is), read at
 * its `position`-th metric position: `circuitscope patch`'s run (patchRun, then patchOutput: the
 * JSON `patch --json` prints for the same prompt given as --data) and its heatmaps (sweepSvgs).
 */
async function patch(m: Extract<ToWorker, { type: 'patch' }>): Promise<Reply> {
  const t0 = performance.now();
  const { loaded, backend } = await model(m.ref);
  const mdl = loaded.model, cfg = mdl.cfg;
  const task = taskOf(m.task, m.customTask);
  if (!Number.isInteger(m.index) || m.index < 0) throw new Error(`patch: prompt must be an integer >= 0, got ${m.index}`);
  const tok = tokenizerFor(cfg);
  const built = task.build({ cfg, tokenizer: tok }, { n: Math.max(2, m.index + 1), seed: m.seed });
  validateBatch(task.name, built, cfg);
  const batch = taskPatchBatch(built, m.index, m.position, task.name);
  const run = await patchRun(mdl, batch, { mode: m.mode, kinds: m.kinds, senders: m.senders, receivers: m.receivers });
  const output = patchOutput(run, { model: modelName(m.ref), backend, kinds: m.kinds, senders: m.senders, receivers: m.receivers, seconds: (performance.now() - t0) / 1000 });
  const str = (ids: number[]) => (cfg.tokenizerName !== null ? tok.decode(ids) : `[${ids.join(',')}]`);
  return {
    type: 'patch', id: 0, output, svgs: sweepSvgs(run.result.sweeps, run.result.mode),
    text: { clean: str(batch.clean[0]), corrupt: str(batch.corrupt[0]), answer: tokenString(tok, batch.answers[0]), wrong: tokenString(tok, batch.wrongs[0]) },
    positions: built.positions[m.index].length,
  };
}

async function answer(m: Exclude<ToWorker, { type: 'run' }>): Promise<Reply> {
  if (m.type === 'files') {
    const picked = pickedModel(m.files);
    if (cached?.key.startsWith(`${LOCAL_MODEL}|`)) { cached.loaded.model.dispose(); cached = null; }
    local = picked;
    // load it now (and keep it), so that a bad file is reported at once
    const { loaded } = await model({ model: LOCAL_MODEL, backend: m.backend, base: m.base }).catch((e: unknown) => { local = null; throw e; });
    const c = loaded.model.cfg;
    const summary = `${localName(picked.spec)}: ${loaded.format}, ${c.nLayers} layers, ${c.nHeads} heads, d_model ${c.dModel}, vocabulary ${c.dVocab}`;
    return { type: 'files', id: m.id, spec: localName(picked.spec), summary };
  }
  const r = m.type === 'logits' ? await logits(m.ref, m.text, m.top)
    : m.type === 'reference' ? reference(m)
      : m.type === 'attention' ? await attention(m)
        : m.type === 'patch' ? await patch(m)
          : await taskCheck(m.ref, m.text);
  return { ...r, id: m.id };
}

post({
  type: 'ready',
  catalog: {
    tasks: listTasks().map((t) => ({ name: t.name, description: t.description, defaultModel: t.defaultModel, fallbackModel: t.fallbackModel })),
    presets: Object.keys(PRESETS),
    patchKinds: [...PATCH_KINDS], patchModes: [...PATCH_MODES],
    methods: methodNames().map((name) => {
      const m = getMethod(name);
      return { name, kind: m.kind, defaultThreshold: m.defaultThreshold ?? null, aliasOf: m.aliasOf ?? null, options: m.options, checkpoints: m.checkpoints };
    }),
  },
});

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === 'run') run(m.job).catch((e: unknown) => post({ type: 'error', message: message(e) }));
  else answer(m).then(post, (e: unknown) => post({ type: 'failed', id: m.id, message: message(e) }));
};
