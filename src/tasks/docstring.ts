/**
 * Docstring (Heimersheim & Janiak 2023; ACDC `acdc/docstring/prompts.py`, docs/tasks.md):
 * predict the next parameter name in a reST docstring.
 *
 *     <BOS>
 *     def old(self, first, files, page, names, size, read):
 *         """sector gap population
 *
 *         :param page: message tree
 *         :param names: detail mine
 *         :param                                   -> " size"
 *
 * ACDC's generator settings: 3 matching args, 2 def-prefix args, 1 def-suffix arg, no doc-prefix
 * args, a 3-word method description, 2-word arg descriptions. Per prompt, 15 distinct names are
 * drawn from `variable_names`: the method name, a random answer, 3 + 2 "random_random" def/doc
 * args, 2 not-matching args, the 3 matching args, 2 prefix and 1 suffix args. The answer is the
 * third matching arg; the wrong answers are the 13 other args (the method name excluded).
 * Corruption `random_random`: the matching def args and the documented args replaced by the
 * random_random ones (prefix/suffix args and all descriptions stay).
 * Metric: logit(answer) - max logit(wrong), ACDC's docstring_metric without its sign.
 *
 * Tokenizer: the task's model, attn-only-4l, uses a NeoX-style tokenizer (split digits) that
 * circuitscope does not have. The task builds with the GPT-2 tokenizer when the model is
 * GPT-2-tokenised and fails with a clear message otherwise. With GPT-2, names are kept when
 * " name" is one token and description words when both "word" and " word" are (the first
 * description word follows `"""` with no space), so every prompt has the same length. Random
 * draws use the project's Rng (ACDC seeds Python's `random` with the prompt index), so prompts
 * differ from ACDC's; the reference circuit (references.ts) is the published one.
 *
 * The description-word list is our own list of common English nouns (it starts with the first
 * 30 of ACDC's 687 `common_single_token_nouns`); it only fills the prose.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from '../model/tokenizer.js';
import { Rng } from '../util/rng.js';
import { klDivergence, logitDiffMaxWrong } from './metrics.js';
import { docstringReference } from './references.js';
import type { BuildContext, Task, TaskBatch, TaskMetric } from './types.js';

/** ACDC's `variable_names` (111). */
export const VARIABLE_NAMES: readonly string[] = Object.freeze((
  'data name file value test new result line user key default request path output node item url model response text ' +
  'version function log string field start number values sub index error current context image message check json create ' +
  'size event state row obj parser end files form query fields instance label run action target array code num table ' +
  'source msg config first required options ret update module status group content client filename results last read ' +
  'command val base format color settings order found count match tag title parent call session token server host date ' +
  'description mode expected project info valid page header option task shape load names port old resource root'
).split(' '));

/** Common nouns for the descriptions (our list; see the header). */
export const DESCRIPTION_NOUNS: readonly string[] = Object.freeze((
  // the first 30 of ACDC's common_single_token_nouns
  'price control action cost issue process position course minute education type research subject girl age father ' +
  'force order value act matter health lot street patient class mind church condition paper ' +
  // ours, alphabetical
  'account air animal answer apple area arm art bag ball band bank bar base bed bell bird block board boat body bone ' +
  'book box boy brain bread bridge cake call camp car card care case cat cause cell chain chair change chart child city ' +
  'clock cloud club coat code coin color court cup data date day deal desk dog door dream drive drop egg end energy ' +
  'engine error event eye face fact farm field file film fire fish flag floor flow food form frame game gap gas gate ' +
  'gift goal gold grass group guide hair hall hand hat head heart heat hill hole home horse house ice idea image iron ' +
  'item job key king lake land law leaf line link list lock loss love map mark market meal milk mine model money month ' +
  'moon mouse music name net news night node note oil page pair park part path peace pen pipe plan plant plate point ' +
  'pool port post power race rain range rate rock role roof room root rope rule salt sand scale scene school sea seat ' +
  'seed set shape sheet ship shop side sign size skin sky snow song sound space speed spot star state step stone store ' +
  'story sun table tag task team test text time tool top town track tree trip unit user view voice wall war watch ' +
  'water wave way week wheel wind window wine wood word work world year zone'
).split(' ').filter((w, i, a) => a.indexOf(w) === i));

export interface DocstringPrompt {
  clean: string;
  /** the random_random corruption */
  corrupt: string;
  answer: string;
  wrong: string[];
}

const IND = '    ';

/** The reST prompt text: leading newline, def line, docstring head, `:param` lines, dangling `:param`. */
export function docstringText(method: string, defArgs: readonly string[], desc: readonly string[], docArgs: readonly string[], docDesc: readonly (readonly string[])[]): string {
  const lines = docArgs.map((a, i) => `${IND}:param ${a}: ${docDesc[i].join(' ')}`);
  return `\ndef ${method}(self, ${defArgs.join(', ')}):\n${IND}"""${desc.join(' ')}\n\n${lines.join('\n')}\n${IND}:param`;
}

function sample<T>(rng: Rng, xs: readonly T[], k: number): T[] {
  if (k > xs.length) throw new Error(`docstring: cannot draw ${k} distinct items from ${xs.length}`);
  const idx = rng.perm(xs.length).slice(0, k);
  return idx.map((i) => xs[i]);
}

/** One prompt with ACDC's settings (3 matching, 2 prefix, 1 suffix args; 3-word / 2-word descriptions). */
export function docstringPrompt(rng: Rng, names: readonly string[], nouns: readonly string[]): DocstringPrompt {
  // ACDC's draw order: method name, random answer, random_random def (3) and doc (2) args,
  // not-matching (2), matching (3), def prefix (2), def suffix (1)
  const [method, ...args] = sample(rng, names, 15);
  const rrDef = args.slice(1, 4), rrDoc = args.slice(4, 6), matching = args.slice(8, 11);
  const prefix = args.slice(11, 13), suffix = args.slice(13, 14);
  const desc = sample(rng, nouns, 3);
  const docArgs = matching.slice(0, 2);
  const docDesc = docArgs.map(() => sample(rng, nouns, 2));
  const answer = matching[2];
  return {
    clean: docstringText(method, [...prefix, ...matching, ...suffix], desc, docArgs, docDesc),
    corrupt: docstringText(method, [...prefix, ...rrDef, ...suffix], desc, rrDoc, docDesc),
    answer: ' ' + answer,
    wrong: args.filter((a) => a !== answer).map((a) => ' ' + a),
  };
}

/** The names and nouns usable with this tokenizer (one token each; see the header). */
export function docstringVocab(tok: Tokenizer): { names: string[]; nouns: string[] } {
  const one = (t: string) => tok.encode(t).length === 1;
  return {
    names: VARIABLE_NAMES.filter((v) => one(' ' + v)),
    nouns: DESCRIPTION_NOUNS.filter((w) => one(w) && one(' ' + w)),
  };
}

const metric = (logits: tf.Tensor3D, b: TaskBatch) => logitDiffMaxWrong(logits, b.answers, b.wrong);

export const DOCSTRING_METRICS: readonly TaskMetric[] = Object.freeze([
  { name: 'logit-diff-max-wrong', description: 'logit(answer) - max logit(wrong args) at the last position', higherIsBetter: true, needsClean: false, compute: metric },
  {
    name: 'kl', description: 'KL(clean || patched) at the last position', higherIsBetter: false, needsClean: true,
    compute: (l: tf.Tensor3D, _b: TaskBatch, clean?: tf.Tensor3D) => {
      if (!clean) throw new Error('docstring: the kl metric needs the clean logits');
      return klDivergence(clean, l);
    },
  },
]);

function build(ctx: BuildContext, { n, seed }: { n: number; seed: number }): TaskBatch {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`docstring: n must be a positive integer, got ${n}`);
  const tok = ctx.tokenizer;
  if (tok.name !== 'gpt2') {
    throw new Error(`docstring: the model '${ctx.cfg.modelName}' uses the '${tok.name}' tokenizer. The docstring task's model, attn-only-4l, needs a NeoX-style tokenizer (split digits) that circuitscope does not ship; run the task on a GPT-2-tokenised model (e.g. --model gpt2 or a GPT-2 checkpoint directory), whose prompts are built with the GPT-2 tokenizer`);
  }
  const { names, nouns } = docstringVocab(tok);
  const rng = new Rng(seed);
  const clean: number[][] = [], corrupt: number[][] = [], answers: number[][] = [], wrong: number[][][] = [];
  const text: string[] = [], corruptText: string[] = [];
  const single = (w: string) => {
    try { return tok.toSingleToken(w); } catch (e) { throw new Error(`docstring: answer '${w}' is not a single token: ${(e as Error).message}`); }
  };
  for (let i = 0; i < n; i++) {
    const p = docstringPrompt(rng, names, nouns);
    const c = tok.toTokens(p.clean, { prependBos: true }), k = tok.toTokens(p.corrupt, { prependBos: true });
    if (c.length !== k.length) throw new Error(`docstring: prompt ${i} is ${c.length} tokens but its corruption is ${k.length}; they must tokenise to the same length`);
    if (clean.length > 0 && c.length !== clean[0].length) throw new Error(`docstring: prompt ${i} is ${c.length} tokens but prompt 0 is ${clean[0].length}`);
    clean.push(c); corrupt.push(k);
    answers.push([single(p.answer)]);
    wrong.push([p.wrong.map(single)]);
    text.push(p.clean); corruptText.push(p.corrupt);
  }
  const T = clean[0].length;
  return { clean, corrupt, positions: clean.map(() => [T - 1]), answers, wrong, meta: { text, corruptText } };
}

export const docstringTask: Task = Object.freeze({
  name: 'docstring',
  description: 'docstring: predict the next :param name; random_random corruption; logit(answer) - max logit(wrong) (GPT-2 tokenizer only)',
  defaultModel: 'attn-only-4l',
  fallbackModel: null,
  build,
  metric,
  metricName: 'logit-diff-max-wrong',
  metrics: DOCSTRING_METRICS,
  loadReference: () => docstringReference(),
});
