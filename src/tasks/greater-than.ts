/**
 * Greater-Than (Hanna et al. 2023; ACDC `acdc/greaterthan/utils.py`, docs/tasks.md).
 * "The war lasted from the year 1732 to 17" -> a two-digit ending greater than 32.
 *
 * Prompts: "The {noun} lasted from the year {XXYY} to {XX}", no BOS (ACDC tokenises with the
 * bare tokenizer), 10 GPT-2 tokens with the year ending YY at index 7 when the noun is one
 * token. Nouns: ACDC's 120, keeping those that are one token after a space. Years: for each
 * century 11..17, the years XX02..XX98 whose " XXYY" tokenises as exactly [" XX", "YY"], minus
 * the first and last such year of each century (ACDC's rule). Noun and year are drawn
 * uniformly with the project's seeded Rng (ACDC uses torch.manual_seed(54)).
 *
 * Corruption: the YY token replaced by "01" (GPT-2 id 486), i.e. "...from the year 1701 to 17".
 *
 * Metric (higher = behaviour present): P(YY' > YY) - P(YY' <= YY) at the last position, over
 * the 100 two-digit tokens "00".."99", probabilities from the softmax over the whole
 * vocabulary. ACDC reports the negation (lower = better) for ACDC's minimiser.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from '../model/tokenizer.js';
import { Rng } from '../util/rng.js';
import { klDivergence } from './metrics.js';
import { greaterThanReference } from './references.js';
import type { BuildContext, Task, TaskBatch, TaskMetric } from './types.js';

/** ACDC's 120 nouns. */
export const GREATER_THAN_NOUNS: readonly string[] = Object.freeze([
  'abduction', 'accord', 'affair', 'agreement', 'appraisal', 'assaults', 'assessment', 'attack', 'attempts', 'campaign',
  'captivity', 'case', 'challenge', 'chaos', 'clash', 'collaboration', 'coma', 'competition', 'confrontation', 'consequence',
  'conspiracy', 'construction', 'consultation', 'contact', 'contract', 'convention', 'cooperation', 'custody', 'deal', 'decline',
  'decrease', 'demonstrations', 'development', 'disagreement', 'disorder', 'dispute', 'domination', 'dynasty', 'effect', 'effort',
  'employment', 'endeavor', 'engagement', 'epidemic', 'evaluation', 'exchange', 'existence', 'expansion', 'expedition', 'experiments',
  'fall', 'fame', 'flights', 'friendship', 'growth', 'hardship', 'hostility', 'illness', 'impact', 'imprisonment',
  'improvement', 'incarceration', 'increase', 'insurgency', 'invasion', 'investigation', 'journey', 'kingdom', 'marriage', 'modernization',
  'negotiation', 'notoriety', 'obstruction', 'operation', 'order', 'outbreak', 'outcome', 'overhaul', 'patrols', 'pilgrimage',
  'plague', 'plan', 'practice', 'process', 'program', 'progress', 'project', 'pursuit', 'quest', 'raids',
  'reforms', 'reign', 'relationship', 'retaliation', 'riot', 'rise', 'rivalry', 'romance', 'rule', 'sanctions',
  'shift', 'siege', 'slump', 'stature', 'stint', 'strikes', 'study', 'test', 'testing', 'tests',
  'therapy', 'tour', 'tradition', 'treaty', 'trial', 'trip', 'unemployment', 'voyage', 'warfare', 'work',
]);

/** Index of the YY token in a prompt (no BOS). */
export const YY_INDEX = 7;

const two = (yy: number) => String(yy).padStart(2, '0');

/** Ids of the 100 tokens "00".."99"; an error naming the first that is not one token. */
export function twoDigitTokens(tok: Tokenizer): number[] {
  return Array.from({ length: 100 }, (_, yy) => {
    try {
      return tok.toSingleToken(two(yy));
    } catch (e) {
      throw new Error(`greater-than: '${two(yy)}' is not a single token of the ${tok.name} tokenizer (${(e as Error).message}); the task needs a GPT-2-style tokenizer`);
    }
  });
}

/** ACDC's year list: per century 11..17 the years whose " XXYY" is [" XX", "YY"], minus the first and last. */
export function greaterThanYears(tok: Tokenizer): number[] {
  const out: number[] = [];
  for (let c = 11; c <= 17; c++) {
    const ok: number[] = [];
    for (let y = c * 100 + 2; y < c * 100 + 99; y++) {
      const ids = tok.encode(` ${y}`);
      const xx = tok.encode(` ${c}`), yy = tok.encode(two(y % 100));
      if (ids.length === 2 && xx.length === 1 && yy.length === 1 && ids[0] === xx[0] && ids[1] === yy[0]) ok.push(y);
    }
    out.push(...ok.slice(1, -1));
  }
  return out;
}

/** The nouns that are one token after a space. */
export function greaterThanNouns(tok: Tokenizer): string[] {
  return GREATER_THAN_NOUNS.filter((w) => tok.encode(' ' + w).length === 1);
}

export function greaterThanPrompt(noun: string, year: number): string {
  return `The ${noun} lasted from the year ${year} to ${String(year).slice(0, 2)}`;
}

/**
 * P(yy' > yy) - P(yy' <= yy), averaged over rows and positions. `yy[b]` is row b's start-year
 * ending; `yearTokens[k]` the id of the token for k ("00".."99").
 */
export function probDiff(logits: tf.Tensor3D, yy: readonly number[], yearTokens: readonly number[]): tf.Scalar {
  const [B, K, V] = logits.shape;
  if (yy.length !== B) throw new Error(`greater-than: ${yy.length} year endings for a batch of ${B}`);
  return tf.tidy(() => {
    // sign[b, v] = +1 for year tokens above yy[b], -1 for those at or below, 0 elsewhere
    const sign = new Float32Array(B * V);
    for (let b = 0; b < B; b++) for (let k = 0; k < 100; k++) sign[b * V + yearTokens[k]] = k > yy[b] ? 1 : -1;
    const probs = tf.softmax(logits);
    const w = tf.reshape(tf.tensor2d(sign, [B, V]), [B, 1, V]);
    return tf.div(tf.sum(tf.mul(probs, w)), B * K) as tf.Scalar;
  });
}

function rowsYy(batch: TaskBatch): number[] {
  const yy = batch.meta?.yy;
  const tokens = batch.meta?.yearTokens;
  if (!Array.isArray(yy) || !Array.isArray(tokens)) throw new Error('greater-than: the batch has no meta.yy / meta.yearTokens (build it with the greater-than task)');
  return yy as number[];
}

const metric = (logits: tf.Tensor3D, batch: TaskBatch) => probDiff(logits, rowsYy(batch), batch.meta!.yearTokens as number[]);

export const GREATER_THAN_METRICS: readonly TaskMetric[] = Object.freeze([
  { name: 'prob-diff', description: 'P(YY\' > YY) - P(YY\' <= YY) over the tokens 00..99 at the last position', higherIsBetter: true, needsClean: false, compute: metric },
  {
    name: 'kl', description: 'KL(clean || patched) at the last position', higherIsBetter: false, needsClean: true,
    compute: (l: tf.Tensor3D, _b: TaskBatch, clean?: tf.Tensor3D) => {
      if (!clean) throw new Error('greater-than: the kl metric needs the clean logits');
      return klDivergence(clean, l);
    },
  },
]);

function build(ctx: BuildContext, { n, seed }: { n: number; seed: number }): TaskBatch {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`greater-than: n must be a positive integer, got ${n}`);
  const tok = ctx.tokenizer;
  const yearTokens = twoDigitTokens(tok);
  const years = greaterThanYears(tok), nouns = greaterThanNouns(tok);
  if (years.length === 0) throw new Error(`greater-than: no year " XXYY" tokenises as [" XX", "YY"] with the ${tok.name} tokenizer`);
  if (nouns.length === 0) throw new Error(`greater-than: none of the nouns is a single token of the ${tok.name} tokenizer`);
  const t01 = yearTokens[1];
  const rng = new Rng(seed);
  const clean: number[][] = [], corrupt: number[][] = [], yy: number[] = [], text: string[] = [];
  for (let i = 0; i < n; i++) {
    const noun = rng.pick(nouns), year = rng.pick(years);
    const s = greaterThanPrompt(noun, year);
    const ids = tok.toTokens(s, { prependBos: false });
    if (ids.length !== YY_INDEX + 3 || ids[YY_INDEX] !== yearTokens[year % 100]) {
      throw new Error(`greater-than: prompt ${i} '${s}' tokenises as [${tok.toStrTokens(ids).map((x) => JSON.stringify(x)).join(', ')}]; expected 10 tokens with "${two(year % 100)}" at index ${YY_INDEX}`);
    }
    const c = [...ids];
    c[YY_INDEX] = t01;
    clean.push(ids); corrupt.push(c); yy.push(year % 100); text.push(s);
  }
  const T = clean[0].length;
  return {
    clean, corrupt,
    positions: clean.map(() => [T - 1]),
    // the answer is the smallest greater ending (for accuracy-style checks); the metric uses meta
    answers: yy.map((y) => [yearTokens[Math.min(99, y + 1)]]),
    wrong: yy.map((y) => [[yearTokens[y]]]),
    meta: { yy, yearTokens, text },
  };
}

export const greaterThanTask: Task = Object.freeze({
  name: 'greater-than',
  description: 'greater-than: "The {noun} lasted from the year XXYY to XX", "...01" corruption, P(> YY) - P(<= YY)',
  defaultModel: 'gpt2',
  fallbackModel: null,
  build,
  metric,
  metricName: 'prob-diff',
  metrics: GREATER_THAN_METRICS,
  loadReference: () => greaterThanReference(),
});
