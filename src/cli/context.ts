/**
 * What the hand-checking commands (attention, heads, dla) share: loading the model for a
 * `--model` or a `--task` / `--data` task, one prompt from `--text` / `--tokens` / a task row,
 * and writing output files.
 *
 * Besides every spec `loadModel` takes, these commands accept `--model planted-induction`: the
 * hand-set 2-layer attention-only model of src/analysis/planted.ts (previous-token head a0.h0,
 * duplicate-token head a0.h1, induction head a1.h0), a model whose heads are known by
 * construction, to try the tools on.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { CheckpointStore } from '../discovery/types.js';
import type { PathArg } from './output.js';
import type { ModelConfig } from '../model/config.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { tokenizerFor } from '../model/tokenizer.js';
import { HookedTransformer } from '../model/transformer.js';
import { PLANTED_INDUCTION, plantedInductionModel } from '../analysis/planted.js';
import { circuitNodes, readCircuitJson, type CircuitEdge, type CircuitFile } from '../graph/circuit-file.js';
import { referenceFromJson, taskReference, type Reference } from '../eval/reference.js';
import { compatibleReference } from '../eval/report.js';
import { loadCustomTask } from '../tasks/custom-file.js';
import { getTask } from '../tasks/registry.js';
import { resolveSharedModel } from '../tasks/shared-models.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';

/** The files a command reads, by option (for checkOutputs: no output may be one of them). */
export function inputPaths(a: { data?: string; config?: string; model?: string; circuit?: string; reference?: string; a?: string; b?: string }): PathArg[] {
  const flags = ['data', 'config', 'model', 'circuit', 'reference', 'a', 'b'] as const;
  return flags.filter((f) => typeof a[f] === 'string' && existsSync(a[f]!)).map((f) => ({ flag: f.length > 1 ? `--${f}` : f.toUpperCase(), path: a[f]! }));
}

export interface ModelArgs { model?: string; config?: string; processing?: string[]; quiet?: boolean }

/** `--task name` or `--data file.json` as a task; null when neither is given. */
export function taskFromArgs(a: { task?: string; data?: string }): Task | null {
  if (a.task && a.data) throw new Error('give either --task or --data, not both');
  if (a.data) return loadCustomTask(a.data);
  if (a.task) return getTask(a.task);
  return null;
}

/**
 * The model: `--model` when given, else the task's default model (a shared toy model, a
 * preset or a Hugging Face name), else its shipped fallback, with a notice on stderr.
 */
export async function loadModelFor(command: string, a: ModelArgs, task: Task | null): Promise<{ loaded: LoadedModel; name: string }> {
  const load = (s: string) => loadModel(s, { config: a.config, processing: a.processing, quiet: a.quiet });
  if (a.model === PLANTED_INDUCTION && !existsSync(a.model)) {
    const p = plantedInductionModel();
    return { loaded: { model: HookedTransformer.fromStateDict(p.cfg, p.stateDict), source: PLANTED_INDUCTION, format: 'hand-set' }, name: PLANTED_INDUCTION };
  }
  if (a.model) return { loaded: await load(a.model), name: a.model };
  if (!task) throw new Error(`${command}: give --model (or --task / --data, whose default model is used)`);
  return taskDefaultModel(task, load, { prefix: `${command}: `, notice: !a.quiet, hint: '' });
}

/**
 * The task's default model (a shared toy model, a preset or a Hugging Face name), else its
 * shipped fallback with a notice on stderr; errors start with `prefix`.
 */
async function taskDefaultModel(task: Task, load: (spec: string) => Promise<LoadedModel>, o: { prefix: string; notice: boolean; hint: string }): Promise<{ loaded: LoadedModel; name: string }> {
  try {
    const spec = resolveSharedModel(task.defaultModel) ?? task.defaultModel;
    return { loaded: await load(spec), name: task.defaultModel };
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    if (!task.fallbackModel) throw new Error(`${o.prefix}${why} (task '${task.name}' has no shipped fallback model; pass --model)`);
    if (o.notice) process.stderr.write(`note: the default model '${task.defaultModel}' of task '${task.name}' is not available (${why}); using the shipped model '${task.fallbackModel}'.${o.hint}\n`);
    return { loaded: await load(task.fallbackModel), name: task.fallbackModel };
  }
}

/** The task's batch for this model, validated. */
export function buildTaskBatch(task: Task, cfg: ModelConfig, n: number, seed: number): TaskBatch {
  const batch = task.build({ cfg, tokenizer: tokenizerFor(cfg) }, { n, seed });
  validateBatch(task.name, batch, cfg);
  return batch;
}

/** Parse "12,7,3" into ids checked against the vocabulary. */
export function parseIds(text: string, cfg: ModelConfig, command: string): number[] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  if (parts.length === 0) throw new Error(`${command}: --tokens '${text}' holds no token ids (expected e.g. 12,7,3)`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new Error(`${command}: --tokens: '${p}' is not a non-negative integer token id`);
    const id = Number(p);
    if (id >= cfg.dVocab) throw new Error(`${command}: --tokens: token id ${id} is outside the model's vocabulary [0, ${cfg.dVocab})`);
    return id;
  });
}

/**
 * One prompt's ids from `--text` (the model's tokenizer; BOS as the model's default unless
 * `prependBos` says otherwise), `--tokens`, or row `index` of a task batch (without the task's
 * right padding).
 */
export function onePrompt(command: string, cfg: ModelConfig, a: { text?: string; tokens?: string; prependBos?: boolean; index?: number }, batch: TaskBatch | null): number[] {
  let ids: number[];
  if (a.tokens !== undefined) ids = parseIds(a.tokens, cfg, command);
  else if (a.text !== undefined) {
    if (cfg.tokenizerName === null) throw new Error(`${command}: model ${cfg.modelName} has no tokenizer (its token ids are plain integers): pass --tokens 12,7,3 instead of --text`);
    ids = tokenizerFor(cfg).toTokens(a.text, { prependBos: a.prependBos ?? cfg.defaultPrependBos });
    if (ids.length === 0) throw new Error(`${command}: --text is empty (and no BOS was prepended)`);
  } else if (batch) {
    const i = a.index ?? 0;
    if (!Number.isInteger(i) || i < 0 || i >= batch.clean.length) throw new Error(`${command}: --index ${i} is outside the task's ${batch.clean.length} prompts`);
    const lens = batch.meta?.promptLength;
    const len = Array.isArray(lens) && typeof lens[i] === 'number' ? (lens[i] as number) : batch.clean[i].length;
    ids = batch.clean[i].slice(0, len);
  } else {
    throw new Error(`${command}: give --text "<prompt>", --tokens 12,7,3, or --task <name> (its prompt --index)`);
  }
  if (ids.length > cfg.nCtx) throw new Error(`${command}: the prompt is ${ids.length} tokens, longer than the model's context nCtx=${cfg.nCtx}`);
  return ids;
}

/** A circuit file (ours or EAP-IG / MIB) with a check that it was made for a model of this shape. */
export function readCircuit(path: string, cfg: ModelConfig, command: string): { edges: CircuitEdge[]; file: CircuitFile | null } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${command}: --circuit ${path}: ${(e as Error).message}`);
  }
  const c = readCircuitJson(json, path);
  const mc = c.file?.modelConfig;
  if (mc && (mc.nLayers !== cfg.nLayers || mc.nHeads !== cfg.nHeads)) {
    throw new Error(`${command}: --circuit ${path} was found on a model with ${mc.nLayers} layers x ${mc.nHeads} heads, but this model has ${cfg.nLayers} x ${cfg.nHeads}`);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Circuit-file commands (evaluate, compare, sweep, discover): the task's model, a circuit file
// (ours or EAP-IG / MIB) with its task and model, and the `--reference` option.
// ---------------------------------------------------------------------------------------------

/** Load the task's model: --model, else the task's default, else its shipped fallback (with a notice). */
export async function modelForTask(task: Task, spec: string | undefined, opts: { config?: string; processing?: string[]; quiet: boolean }): Promise<{ loaded: LoadedModel; name: string }> {
  const load = (s: string) => loadModel(s, { config: opts.config, processing: opts.processing, quiet: opts.quiet });
  if (spec) return { loaded: await load(spec), name: spec };
  return taskDefaultModel(task, load, { prefix: '', notice: !opts.quiet, hint: " Get GPT-2 with 'huggingface-cli download gpt2' or pass --model <dir>." });
}

export interface LoadedCircuit { path: string; file: CircuitFile; imported: boolean }

/**
 * A circuit file, or an EAP-IG / MIB graph JSON turned into one (task, model, ablation, n and
 * seed from the options; tok/pos split when its edges use them).
 */
export function loadCircuit(path: string, o: { task?: string; model?: string; ablation?: string; n?: number; seed?: number } = {}): LoadedCircuit {
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
    throw new Error(`evaluate: cannot read circuit ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { edges, file } = readCircuitJson(json, path);
  if (file) return { path, file, imported: false };
  const kept = edges.filter((e) => e.inCircuit).map((e) => `${e.from}->${e.to}`);
  const split = edges.some((e) => e.from === 'tok' || e.from === 'pos');
  const cfg = (json as { cfg?: { n_layers?: number; n_heads?: number } }).cfg;
  const f: CircuitFile = {
    format: 'circuitscope-circuit', version: 1, model: o.model ?? '', task: o.task ?? '',
    modelConfig: { nLayers: cfg?.n_layers ?? 0, nHeads: cfg?.n_heads ?? 0, dModel: 0, attnOnly: !edges.some((e) => /^m\d+$/.test(e.from)) },
    method: 'imported', threshold: null, topN: null, metric: '', ablation: o.ablation ?? 'resample', splitEmbed: split,
    n: o.n ?? 100, seed: o.seed ?? 0, backend: '', processing: [], createdAt: new Date().toISOString(),
    nodes: circuitNodes(kept), edges,
    results: { metric: '', clean: NaN, corrupted: NaN, circuit: NaN, faithfulness: null, klCircuit: NaN, edgesKept: kept.length, edgesTotal: edges.length, seconds: 0, forwards: 0, backwards: 0 },
  };
  return { path, file: f, imported: true };
}

/** The task (--task / --data, else the file's) and the model (--model, else the file's). */
export async function taskAndModel(file: CircuitFile, o: { task?: string; data?: string; model?: string; config?: string; processing?: string[]; quiet: boolean }, what: string): Promise<{ task: Task; loaded: LoadedModel; modelName: string }> {
  const task = o.data ? loadCustomTask(o.data) : getTask(o.task ?? (file.task || (() => { throw new Error(`${what}: the circuit names no task; pass --task or --data`); })()));
  const spec = o.model ?? (file.model ? resolveSharedModel(file.model) ?? file.model : undefined);
  if (!spec) throw new Error(`${what}: the circuit names no model; pass --model`);
  const { loaded, name } = await modelForTask(task, spec, { config: o.config, processing: o.processing ?? (file.processing.length ? file.processing : undefined), quiet: o.quiet });
  const c = loaded.model.cfg;
  const m = file.modelConfig;
  if (m.nLayers && (m.nLayers !== c.nLayers || m.nHeads !== c.nHeads || m.attnOnly !== c.attnOnly)) {
    loaded.model.dispose();
    throw new Error(`${what}: the circuit is for a ${m.nLayers}-layer, ${m.nHeads}-head model but ${spec} has ${c.nLayers} layers and ${c.nHeads} heads; pass the right --model`);
  }
  return { task, loaded, modelName: name };
}

/** A reference circuit file: a circuitscope circuit, an EAP-IG / MIB graph or a toy reference_circuit.json. */
export function readReferenceFile(path: string): Reference {
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, 'utf8')); } catch (e) { throw new Error(`eval: reference ${path}: ${(e as Error).message}`); }
  return referenceFromJson(json, path);
}

/** `--reference <task>|<file>`: an existing file wins over a task name. */
export function resolveReference(spec: string): Reference {
  return existsSync(spec) ? readReferenceFile(spec) : taskReference(spec);
}

/** `--reference`: 'none', a task name or a file; default the task's reference when it fits. */
export function referenceOption(spec: string | undefined, task: Task, file: Pick<CircuitFile, 'modelConfig'>, quiet: boolean): Reference | null {
  if (spec === 'none') return null;
  if (spec) return resolveReference(spec);
  const { reference, note } = compatibleReference(task, file);
  if (note && !quiet) process.stderr.write(`note: no ROC: ${note}\n`);
  return reference;
}

/** A checkpoint kept in a file: written to `<path>.tmp` and renamed, so a kill never leaves half a file. */
export function fileCheckpoint(path: string): CheckpointStore {
  return {
    name: path,
    load: async () => (existsSync(path) ? readFileSync(path, 'utf8') : null),
    save: async (text) => {
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, path);
    },
  };
}

