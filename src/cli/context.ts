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
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { tokenizerFor } from '../model/tokenizer.js';
import { HookedTransformer } from '../model/transformer.js';
import { PLANTED_INDUCTION, plantedInductionModel } from '../analysis/planted.js';
import { readCircuitJson, type CircuitEdge, type CircuitFile } from '../graph/circuit-file.js';
import { loadCustomTask } from '../tasks/custom.js';
import { getTask } from '../tasks/registry.js';
import { resolveSharedModel } from '../tasks/shared-models.js';
import type { Task, TaskBatch } from '../tasks/types.js';
import { validateBatch } from '../tasks/types.js';

export function writeOutput(path: string, text: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, text);
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
  try {
    const spec = resolveSharedModel(task.defaultModel) ?? task.defaultModel;
    return { loaded: await load(spec), name: task.defaultModel };
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    if (!task.fallbackModel) throw new Error(`${command}: ${why} (task '${task.name}' has no shipped fallback model; pass --model)`);
    if (!a.quiet) process.stderr.write(`note: the default model '${task.defaultModel}' of task '${task.name}' is not available (${why}); using the shipped model '${task.fallbackModel}'\n`);
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
