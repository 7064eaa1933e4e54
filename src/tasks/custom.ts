/**
 * Custom tasks from JSON (`--data file.json`):
 *
 *     { "prompts": [ { "clean": "When Mary and John went to the store, John gave a drink to",
 *                      "corrupt": "When Mary and John went to the store, Paul gave a drink to",
 *                      "answer": " Mary", "wrong": " John" } ],
 *       "metric": "logit-diff", "position": -1 }
 *
 * - `clean` / `corrupt`: text (tokenised with the model's tokenizer; BOS as the model's default
 *   unless `"prependBos"` says otherwise; id models take "12,7,3") or arrays of token ids.
 * - `answer`: a single token, as text (" Mary") or an id; `wrong` (optional): one token or an
 *   array of them.
 * - `metric`: "logit-diff" (answer minus the max over `wrong`; the default when every prompt
 *   has `wrong`), "logprob" (log-probability of the answer; the default otherwise) or
 *   "accuracy" (argmax = answer).
 * - `position`: the token index the metric reads (negative counts from the end; default -1),
 *   top-level or per prompt.
 * - optional `"model"` (the task's default model, else "gpt2"), `"name"`, `"description"`.
 *
 * All prompts must tokenise to one length and each corrupted prompt to its clean prompt's
 * length; errors name the file, the prompt index and both lengths. `build` uses the first `n`
 * prompts in file order (the seed is not used: the prompts are fixed).
 *
 * No file system here: `customTaskFromText` takes the JSON text (a browser's prompt editor, an
 * upload); Node reads the file in ./custom-file.ts (`loadCustomTask(path)`).
 */
import * as tf from '@tensorflow/tfjs';
import { accuracy, answerLogProb, klDivergence, logitDiffMaxWrong } from './metrics.js';
import type { BuildContext, Task, TaskBatch, TaskMetric } from './types.js';

export type CustomMetric = 'logit-diff' | 'logprob' | 'accuracy';
const METRICS: readonly CustomMetric[] = ['logit-diff', 'logprob', 'accuracy'];

type PromptValue = string | number[];
type TokenValue = string | number;

interface CustomPrompt { clean: PromptValue; corrupt: PromptValue; answer: TokenValue; wrong: TokenValue[] | null; position: number | null }

export interface CustomTaskSpec {
  name: string;
  description: string;
  model: string;
  metric: CustomMetric;
  position: number;
  prependBos: boolean | null;
  prompts: readonly CustomPrompt[];
}

const show = (v: unknown) => JSON.stringify(v);

/** Parse and check the JSON's shape (tokenisation is checked at build time). */
export function parseCustomTask(json: unknown, source: string): CustomTaskSpec {
  const fail = (msg: string): never => { throw new Error(`custom task ${source}: ${msg}`); };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('the file must hold a JSON object { "prompts": [...] }');
  const o = json as Record<string, unknown>;
  const known = new Set(['prompts', 'metric', 'position', 'model', 'name', 'description', 'prependBos']);
  for (const k of Object.keys(o)) if (!known.has(k)) fail(`unknown field '${k}' (known: ${[...known].join(', ')})`);
  if (!('prompts' in o)) fail('missing field "prompts" (an array of { "clean", "corrupt", "answer", "wrong"? })');
  if (!Array.isArray(o.prompts) || o.prompts.length === 0) fail('"prompts" must be a non-empty array');
  const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
  const promptValue = (v: unknown, where: string): PromptValue => {
    if (typeof v === 'string') { if (v === '') fail(`${where} is empty`); return v; }
    if (Array.isArray(v)) {
      if (v.length === 0) fail(`${where} is an empty token array`);
      v.forEach((t, j) => { if (!isInt(t) || t < 0) fail(`${where}[${j}] is ${show(t)}, not a non-negative integer token id`); });
      return v as number[];
    }
    return fail(`${where} must be text or an array of token ids, got ${show(v)}`);
  };
  const tokenValue = (v: unknown, where: string): TokenValue => {
    if (typeof v === 'string') { if (v === '') fail(`${where} is empty`); return v; }
    if (isInt(v) && v >= 0) return v;
    return fail(`${where} must be a single token (text such as " Mary", or a token id), got ${show(v)}`);
  };
  const prompts = (o.prompts as unknown[]).map((p, i): CustomPrompt => {
    const where = `prompts[${i}]`;
    if (p === null || typeof p !== 'object' || Array.isArray(p)) fail(`${where} must be an object { "clean", "corrupt", "answer", "wrong"? }`);
    const q = p as Record<string, unknown>;
    for (const k of Object.keys(q)) if (!['clean', 'corrupt', 'answer', 'wrong', 'position'].includes(k)) fail(`${where} has an unknown field '${k}' (known: clean, corrupt, answer, wrong, position)`);
    for (const f of ['clean', 'corrupt', 'answer']) if (!(f in q)) fail(`${where} has no "${f}"`);
    let wrong: TokenValue[] | null = null;
    if (q.wrong !== undefined) {
      const ws = Array.isArray(q.wrong) ? q.wrong : [q.wrong];
      if (ws.length === 0) fail(`${where}.wrong is an empty array`);
      wrong = ws.map((w, j) => tokenValue(w, Array.isArray(q.wrong) ? `${where}.wrong[${j}]` : `${where}.wrong`));
    }
    if (q.position !== undefined && !isInt(q.position)) fail(`${where}.position must be an integer, got ${show(q.position)}`);
    return {
      clean: promptValue(q.clean, `${where}.clean`), corrupt: promptValue(q.corrupt, `${where}.corrupt`),
      answer: tokenValue(q.answer, `${where}.answer`), wrong, position: (q.position as number | undefined) ?? null,
    };
  });
  if (o.metric !== undefined && !METRICS.includes(o.metric as CustomMetric)) fail(`"metric" must be one of ${METRICS.map((m) => `"${m}"`).join(', ')}, got ${show(o.metric)}`);
  const metric = (o.metric as CustomMetric | undefined) ?? (prompts.every((p) => p.wrong) ? 'logit-diff' : 'logprob');
  if (metric === 'logit-diff') {
    const i = prompts.findIndex((p) => !p.wrong);
    if (i >= 0) fail(`prompts[${i}] has no "wrong" token, which the logit-diff metric needs (give "wrong" or choose "metric": "logprob")`);
  }
  if (o.position !== undefined && !isInt(o.position)) fail(`"position" must be an integer, got ${show(o.position)}`);
  for (const f of ['model', 'name', 'description'] as const) if (o[f] !== undefined && (typeof o[f] !== 'string' || o[f] === '')) fail(`"${f}" must be a non-empty string`);
  if (o.prependBos !== undefined && typeof o.prependBos !== 'boolean') fail(`"prependBos" must be true or false`);
  return {
    name: (o.name as string | undefined) ?? `custom:${(source.split(/[\\/]/).pop() ?? source).replace(/\.json$/i, '')}`,
    description: (o.description as string | undefined) ?? `custom task from ${source} (${prompts.length} prompt${prompts.length === 1 ? '' : 's'})`,
    model: (o.model as string | undefined) ?? 'gpt2',
    metric,
    position: (o.position as number | undefined) ?? -1,
    prependBos: (o.prependBos as boolean | undefined) ?? null,
    prompts,
  };
}

function metricFn(m: CustomMetric): (logits: tf.Tensor3D, b: TaskBatch) => tf.Scalar {
  if (m === 'logit-diff') return (l, b) => logitDiffMaxWrong(l, b.answers, b.wrong);
  if (m === 'logprob') return (l, b) => answerLogProb(l, b.answers);
  return (l, b) => accuracy(l, b.answers);
}

/** A Task from a parsed spec; `source` names the file in errors. */
export function customTask(spec: CustomTaskSpec, source: string): Task {
  const fail = (msg: string): never => { throw new Error(`custom task ${source}: ${msg}`); };
  const build = (ctx: BuildContext, { n }: { n: number; seed: number }): TaskBatch => {
    if (!Number.isInteger(n) || n <= 0) fail(`n must be a positive integer, got ${n}`);
    const { cfg, tokenizer: tok } = ctx;
    const toIds = (v: PromptValue, where: string): number[] => {
      if (Array.isArray(v)) return [...v];
      try {
        return tok.toTokens(v, { prependBos: spec.prependBos ?? cfg.defaultPrependBos });
      } catch (e) {
        return fail(`${where} ${show(v)}: ${(e as Error).message}`);
      }
    };
    const toId = (v: TokenValue, where: string): number => {
      let id: number;
      if (typeof v === 'number') id = v;
      else {
        try { id = tok.toSingleToken(v); } catch (e) { return fail(`${where} ${show(v)} is not a single token of the ${tok.name} tokenizer (${(e as Error).message}); answers must be single tokens`); }
      }
      if (id < 0 || id >= cfg.dVocabOut) fail(`${where} ${show(v)}: token id ${id} is outside the model's output vocabulary [0, ${cfg.dVocabOut})`);
      return id;
    };
    const b: TaskBatch = { clean: [], corrupt: [], positions: [], answers: [], wrong: [] };
    spec.prompts.slice(0, n).forEach((p, i) => {
      const c = toIds(p.clean, `prompts[${i}].clean`), k = toIds(p.corrupt, `prompts[${i}].corrupt`);
      if (c.length !== k.length) fail(`prompts[${i}]: the clean prompt is ${c.length} tokens but the corrupted prompt is ${k.length} tokens; they must tokenise to the same length`);
      if (b.clean.length > 0 && c.length !== b.clean[0].length) fail(`prompts[${i}] is ${c.length} tokens but prompts[0] is ${b.clean[0].length} tokens; all prompts must have the same token length`);
      const pos = p.position ?? spec.position;
      const at = pos < 0 ? c.length + pos : pos;
      if (at < 0 || at >= c.length) fail(`prompts[${i}]: metric position ${pos} is outside its ${c.length}-token prompt`);
      b.clean.push(c); b.corrupt.push(k); b.positions.push([at]);
      b.answers.push([toId(p.answer, `prompts[${i}].answer`)]);
      b.wrong.push([(p.wrong ?? []).map((w, j) => toId(w, p.wrong!.length > 1 ? `prompts[${i}].wrong[${j}]` : `prompts[${i}].wrong`))]);
    });
    return b;
  };
  const primary = metricFn(spec.metric);
  const metrics: TaskMetric[] = [
    { name: spec.metric, description: `custom task metric ${spec.metric}`, higherIsBetter: true, needsClean: false, compute: primary },
    {
      name: 'kl', description: 'KL(clean || patched) at the metric position', higherIsBetter: false, needsClean: true,
      compute: (l, _b, clean) => { if (!clean) fail('the kl metric needs the clean logits'); return klDivergence(clean!, l); },
    },
  ];
  return Object.freeze({
    name: spec.name, description: spec.description, defaultModel: spec.model, fallbackModel: null,
    build, metric: primary, metricName: spec.metric, metrics,
  });
}

/** A custom task from its JSON text; `source` (the file name) names it in errors. */
export function customTaskFromText(text: string, source: string): Task {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`custom task ${source}: not valid JSON (${(e as Error).message})`);
  }
  return customTask(parseCustomTask(json, source), source);
}
