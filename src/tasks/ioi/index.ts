/**
 * Indirect object identification (Wang et al. 2023; ACDC `acdc/ioi/ioi_dataset.py`,
 * docs/tasks.md "IOI"). "Then, Mary and John went to the store. John gave a ring to" -> " Mary".
 *
 * Prompts: a template (ABBA A0–A14 or BABA B0–B14, half each), two distinct names IO ([A]) and
 * S ([B]), a place and an object, drawn uniformly with the project's seeded Rng (ACDC uses
 * Python's `random`, so rows differ from ACDC's while the distribution is the same). The prompt
 * is the filled template without its final " [A]"; the answer is " IO", the wrong token " S".
 * No BOS, as in ACDC and the IOI paper (option `prependBos`).
 *
 * Corruption ("ABC"): IO -> X, the first S -> Z, the second S -> Y, giving "Then, X and Z went
 * to the store. Y gave a ring to". ACDC draws X, Y, Z with no distinctness check; here X, Y, Z
 * are distinct from each other and from IO and S, so a corrupted prompt never repeats a clean
 * name. Names are single tokens, so clean and corrupted prompts keep their token positions.
 *
 * Flipped corruptions (`ioiFlipVariant`, `--corrupt flip:ABB->BAB`): the six datasets of the
 * IOI paper's positional-vs-token experiment (ABB->ABB, CDD, BAA, BAB, DCD, ABA) rewrite the
 * three name slots (IO, S1, S2) by role instead; the clean prompts stay the same.
 *
 * Lengths: the 30 templates give prompts of 14 to 20 GPT-2 tokens. Option `lengths`:
 * - 'pad' (default, what the IOI paper's IOIDataset does): right-pad every prompt of the batch
 *   to the longest with the tokenizer's BOS/EOS id (GPT-2: 50256, the paper's pad = eos); each
 *   row's metric position is its own last prompt token, so with causal attention the padding
 *   never reaches the metric. All templates stay in every batch.
 * - 'modal': keep only the templates whose prompts have the most common token length (GPT-2:
 *   12 of 30, 15 tokens), so no padding is needed.
 *
 * Metrics at the metric position: logit difference logit(IO) - logit(S) (primary),
 * KL(clean || patched), and the fraction of rows with logit(IO) > logit(S).
 *
 * `ioi-acdc` is ACDC's configuration: template A0 only, no BOS; with the GPT-2 tokenizer every
 * prompt with its answer is 16 tokens (the model sees 15), which build checks.
 */
import * as tf from '@tensorflow/tfjs';
import type { Tokenizer } from '../../model/tokenizer.js';
import { Rng } from '../../util/rng.js';
import { klDivergence, logitDiff, pick } from '../metrics.js';
import { ioiReference } from '../references.js';
import type { BuildContext, Task, TaskBatch, TaskMetric } from '../types.js';
import { ABBA_TEMPLATES, ACDC_PROMPT_TOKENS, BABA_TEMPLATES, NAMES, OBJECTS, PLACES } from './data.js';

export * from './data.js';

/** The shipped word-level IOI model (models/<name>), used when GPT-2 is not available. */
export const IOI_SHIPPED_MODEL = 'ioi-words';

export interface IoiOptions {
  name: string;
  description: string;
  /** template ids to use: 'A0'..'A14' (ABBA), 'B0'..'B14' (BABA) */
  templates: readonly string[];
  prependBos: boolean;
  lengths: 'pad' | 'modal';
  /** with the GPT-2 tokenizer, require prompt + answer to be this many tokens (ACDC: 16) */
  gpt2PromptTokens?: number;
  defaultModel?: string;
  fallbackModel?: string | null;
  /** corrupted prompts from a name flip instead of the ABC corruption (see `parseIoiFlip`) */
  flip?: IoiFlip;
}

export const ALL_TEMPLATE_IDS: readonly string[] = Object.freeze([
  ...ABBA_TEMPLATES.map((_, i) => `A${i}`),
  ...BABA_TEMPLATES.map((_, i) => `B${i}`),
]);

export function templateText(id: string): string {
  const m = /^([AB])(\d+)$/.exec(id);
  const t = m ? (m[1] === 'A' ? ABBA_TEMPLATES : BABA_TEMPLATES)[Number(m[2])] : undefined;
  if (t === undefined) throw new Error(`ioi: unknown template '${id}' (known: A0..A${ABBA_TEMPLATES.length - 1}, B0..B${BABA_TEMPLATES.length - 1})`);
  return t;
}

export interface IoiFill { io: string; s1: string; s2: string; place: string; object: string }

/**
 * The prompt of a template without its final " [A]": [A] -> io, first [B] -> s1, second
 * [B] -> s2, [PLACE], [OBJECT].
 */
export function fillTemplate(template: string, f: IoiFill): string {
  if (!template.endsWith(' [A]')) throw new Error(`ioi: template '${template}' does not end with ' [A]'`);
  let nB = 0;
  return template.slice(0, -4)
    .replace(/\[B\]/g, () => (nB++ === 0 ? f.s1 : f.s2))
    .replaceAll('[A]', f.io)
    .replaceAll('[PLACE]', f.place)
    .replaceAll('[OBJECT]', f.object);
}

/** The id of " word" in this tokenizer; an error naming the word when it is not one token. */
export function singleToken(task: string, tok: Tokenizer, word: string, what: string): number {
  try {
    return tok.toSingleToken(word);
  } catch (e) {
    throw new Error(`${task}: ${what} '${word}' is not a single token of the ${tok.name} tokenizer (${(e as Error).message}); answers must be single tokens`);
  }
}

function distinct(rng: Rng, xs: readonly string[], k: number, avoid: readonly string[]): string[] {
  const out: string[] = [];
  while (out.length < k) {
    const x = rng.pick(xs);
    if (!out.includes(x) && !avoid.includes(x)) out.push(x);
  }
  return out;
}

/** IO logit > S logit, averaged (ACDC's frac_correct). */
function fracCorrect(logits: tf.Tensor3D, b: TaskBatch): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.cast(tf.greater(pick(logits, b.answers), pick(logits, b.wrong.map((r) => r.map((w) => w[0])))), 'float32')) as tf.Scalar);
}

export const IOI_METRICS: readonly TaskMetric[] = Object.freeze([
  { name: 'logit-diff', description: 'logit(IO) - logit(S) at the last prompt token', higherIsBetter: true, needsClean: false, compute: (l: tf.Tensor3D, b: TaskBatch) => logitDiff(l, b.answers, b.wrong) },
  {
    name: 'kl', description: 'KL(clean || patched) at the last prompt token', higherIsBetter: false, needsClean: true,
    compute: (l: tf.Tensor3D, _b: TaskBatch, clean?: tf.Tensor3D) => {
      if (!clean) throw new Error('ioi: the kl metric needs the clean logits');
      return klDivergence(clean, l);
    },
  },
  { name: 'frac-correct', description: 'fraction of rows with logit(IO) > logit(S)', higherIsBetter: true, needsClean: false, compute: fracCorrect },
]);

// ---------------------------------------------------------------------------------------------
// Flipped-prompt datasets (the IOI paper's positional-vs-token experiment, as ARENA runs it)

/** A / B: the clean prompt's IO and S names; C / D: two fresh names (neither IO nor S). */
export type IoiFlipLetter = 'A' | 'B' | 'C' | 'D';

/**
 * A rewrite of a prompt's three name slots, by role: the IO slot, the first S slot (S1) and
 * the second (S2). Written for an ABB prompt (IO named first): `ABB->BAB` puts S in the IO
 * slot, IO in S1 and S in S2. A BABA prompt gets the same rewrite by role, so `ABB->BAB` and
 * ARENA's pair "ABB->BAB, BAB->ABB" agree; `BAB->...` specs are accepted and mean the same.
 */
export interface IoiFlip {
  /** canonical `ABB->XYZ` */
  readonly spec: string;
  readonly io: IoiFlipLetter;
  readonly s1: IoiFlipLetter;
  readonly s2: IoiFlipLetter;
  /** what the flip changes (ARENA's labels), or 'custom' */
  readonly label: string;
}

/** The six datasets of the experiment: which signal (token, position) the S-inhibition heads could read. */
export const IOI_FLIPS: readonly { spec: string; label: string }[] = Object.freeze([
  { spec: 'ABB->ABB', label: 'original' },
  { spec: 'ABB->CDD', label: 'random token' },
  { spec: 'ABB->BAA', label: 'inverted token' },
  { spec: 'ABB->BAB', label: 'inverted position' },
  { spec: 'ABB->DCD', label: 'inverted position, random token' },
  { spec: 'ABB->ABA', label: 'inverted position, inverted token' },
]);

/**
 * Parse `ABB->BAB` (or `BAB->ABB`, the same flip written for a BABA prompt; `BAB` alone, short
 * for `ABB->BAB`, which needs no quoting in a shell; or `original`).
 */
export function parseIoiFlip(spec: string): IoiFlip {
  const s = spec.trim();
  if (s === 'original') return parseIoiFlip('ABB->ABB');
  if (/^[ABCD]{3}$/.test(s)) return parseIoiFlip(`ABB->${s}`);
  const m = /^(ABB|BAB)\s*->\s*([ABCD])([ABCD])([ABCD])$/.exec(s);
  if (!m) {
    const shell = /-$/.test(s) ? " (a shell reads '>' as a redirection: quote the spec, 'flip:ABB->BAB', or write flip:BAB)" : '';
    throw new Error(`ioi: flip '${spec}' is not of the form ABB->XYZ (or XYZ) with X, Y, Z in A (IO), B (S), C, D (fresh names); e.g. ${IOI_FLIPS.map((f) => f.spec).join(', ')}${shell}`);
  }
  const t = [m[2], m[3], m[4]] as IoiFlipLetter[];
  // ABB slots are (IO, S1, S2); BAB slots are (S1, IO, S2).
  const [io, s1, s2] = m[1] === 'ABB' ? [t[0], t[1], t[2]] : [t[1], t[0], t[2]];
  const canon = `ABB->${io}${s1}${s2}`;
  return Object.freeze({ spec: canon, io, s1, s2, label: IOI_FLIPS.find((f) => f.spec === canon)?.label ?? 'custom' });
}

/** The template fill of a flipped prompt, given what A, B, C and D stand for. */
export function flipFill(flip: IoiFlip, names: Record<IoiFlipLetter, string>, place: string, object: string): IoiFill {
  return { io: names[flip.io], s1: names[flip.s1], s2: names[flip.s2], place, object };
}

/**
 * Flip a finished IOI prompt text (a `patch --clean` prompt): its names (from NAMES) must be one
 * name once (IO) and one name twice (S1, then S2), in any order; `fresh` gives C and D. Other
 * text is kept as it is.
 */
export function flipIoiText(text: string, flip: IoiFlip, fresh: readonly [string, string]): string {
  const re = new RegExp(`\\b(${[...NAMES].sort((a, b) => b.length - a.length).join('|')})\\b`, 'g');
  const hits = [...text.matchAll(re)].map((h) => ({ name: h[1], at: h.index! }));
  const count = new Map<string, number>();
  for (const h of hits) count.set(h.name, (count.get(h.name) ?? 0) + 1);
  const once = [...count].filter(([, c]) => c === 1).map(([n]) => n);
  const twice = [...count].filter(([, c]) => c === 2).map(([n]) => n);
  if (hits.length !== 3 || once.length !== 1 || twice.length !== 1) {
    throw new Error(`ioi: cannot flip '${text}': an IOI prompt names one person once (IO) and another twice (S), but its names are [${hits.map((h) => h.name).join(', ')}]`);
  }
  const [io, s] = [once[0], twice[0]];
  if (fresh[0] === fresh[1] || fresh.some((f) => f === io || f === s)) throw new Error(`ioi: the fresh names ${fresh.join(', ')} must differ from each other and from ${io} and ${s}`);
  const names: Record<IoiFlipLetter, string> = { A: io, B: s, C: fresh[0], D: fresh[1] };
  let seenS = 0;
  let out = '', last = 0;
  for (const h of hits) {
    const letter = h.name === io ? flip.io : seenS++ === 0 ? flip.s1 : flip.s2;
    out += text.slice(last, h.at) + names[letter];
    last = h.at + h.name.length;
  }
  return out + text.slice(last);
}

/** Options each IOI task was made with (so a flip variant of it can be made). */
const IOI_OPTIONS = new WeakMap<Task, IoiOptions>();

/**
 * The IOI task `task` (ioi, ioi-acdc or any makeIoiTask task) with its ABC corruption replaced
 * by a flip: the same clean prompts (same seed, same rows), corrupted by `flip`, where C and D
 * are the names the ABC corruption would have drawn for IO and S2.
 */
export function ioiFlipVariant(task: Task, flip: string | IoiFlip): Task {
  const o = IOI_OPTIONS.get(task);
  if (!o) throw new Error(`ioi: task '${task.name}' is not an IOI task; flipped corruptions need one (ioi, ioi-acdc)`);
  const f = typeof flip === 'string' ? parseIoiFlip(flip) : flip;
  return makeIoiTask({
    ...o,
    name: `${o.name}[flip:${f.spec}]`,
    description: `${o.description}; corrupted by the flip ${f.spec} (${f.label}) instead of ABC`,
    flip: f,
  });
}

export function makeIoiTask(o: IoiOptions): Task {
  const templates = o.templates.map((id) => ({ id, text: templateText(id) }));
  if (templates.length === 0) throw new Error(`ioi: task ${o.name} has no templates`);
  const build = (ctx: BuildContext, { n, seed }: { n: number; seed: number }): TaskBatch => {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${o.name}: n must be a positive integer, got ${n}`);
    const tok = ctx.tokenizer;
    const ids = new Map<string, number>();
    const word = (w: string, what: string) => {
      const k = ' ' + w;
      let id = ids.get(k);
      if (id === undefined) { id = singleToken(o.name, tok, k, what); ids.set(k, id); }
      return id;
    };
    const encode = (text: string) => {
      try {
        return tok.toTokens(text, { prependBos: o.prependBos });
      } catch (e) {
        throw new Error(`${o.name}: cannot tokenise '${text}' with the ${tok.name} tokenizer: ${(e as Error).message}`);
      }
    };
    let use = templates;
    if (o.lengths === 'modal' && templates.length > 1) {
      const probe: IoiFill = { io: NAMES[0], s1: NAMES[1], s2: NAMES[1], place: PLACES[0], object: OBJECTS[0] };
      for (const w of [probe.io, probe.s1, probe.place, probe.object]) word(w, 'word');
      const len = templates.map((t) => encode(fillTemplate(t.text, probe)).length);
      const count = new Map<number, number>();
      for (const L of len) count.set(L, (count.get(L) ?? 0) + 1);
      const best = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
      use = templates.filter((_, i) => len[i] === best);
    }
    const rng = new Rng(seed);
    const rows: { clean: number[]; corrupt: number[]; answer: number; wrong: number; text: string; corruptText: string; template: string; io: string; s: string; place: string; object: string; abc: string[] }[] = [];
    for (let i = 0; i < n; i++) {
      const t = rng.pick(use);
      const [io, s] = distinct(rng, NAMES, 2, []);
      const place = rng.pick(PLACES), object = rng.pick(OBJECTS);
      const [x, y, z] = distinct(rng, NAMES, 3, [io, s]);
      for (const w of [io, s, x, y, z]) word(w, 'name');
      word(place, 'place'); word(object, 'object');
      const text = fillTemplate(t.text, { io, s1: s, s2: s, place, object });
      const corruptText = o.flip
        ? fillTemplate(t.text, flipFill(o.flip, { A: io, B: s, C: x, D: y }, place, object))
        : fillTemplate(t.text, { io: x, s1: z, s2: y, place, object });
      const clean = encode(text), corrupt = encode(corruptText);
      if (clean.length !== corrupt.length) {
        throw new Error(`${o.name}: prompt ${i}: '${text}' is ${clean.length} tokens but its corruption '${corruptText}' is ${corrupt.length}; they must tokenise to the same length`);
      }
      if (o.gpt2PromptTokens !== undefined && tok.name === 'gpt2' && clean.length + 1 !== o.gpt2PromptTokens) {
        throw new Error(`${o.name}: prompt ${i} '${text}' + ' ${io}' is ${clean.length + 1} GPT-2 tokens; ACDC's configuration needs ${o.gpt2PromptTokens}`);
      }
      rows.push({ clean, corrupt, answer: word(io, 'name'), wrong: word(s, 'name'), text, corruptText, template: t.id, io, s, place, object, abc: [x, z, y] });
    }
    const T = Math.max(...rows.map((r) => r.clean.length));
    const pad = tok.bosTokenId ?? 0;
    const fit = (xs: number[]) => (xs.length === T ? xs : [...xs, ...Array.from({ length: T - xs.length }, () => pad)]);
    return {
      clean: rows.map((r) => fit(r.clean)),
      corrupt: rows.map((r) => fit(r.corrupt)),
      positions: rows.map((r) => [r.clean.length - 1]),
      answers: rows.map((r) => [r.answer]),
      wrong: rows.map((r) => [[r.wrong]]),
      meta: {
        text: rows.map((r) => r.text), corruptText: rows.map((r) => r.corruptText), template: rows.map((r) => r.template),
        io: rows.map((r) => r.io), s: rows.map((r) => r.s), place: rows.map((r) => r.place), object: rows.map((r) => r.object), abc: rows.map((r) => r.abc),
        promptLength: rows.map((r) => r.clean.length), padTokenId: pad,
        corruption: o.flip ? `flip:${o.flip.spec}` : 'abc',
      },
    };
  };
  const task: Task = Object.freeze({
    name: o.name,
    description: o.description,
    defaultModel: o.defaultModel ?? 'gpt2',
    fallbackModel: o.fallbackModel === undefined ? IOI_SHIPPED_MODEL : o.fallbackModel,
    build,
    metric: (logits: tf.Tensor3D, batch: TaskBatch) => logitDiff(logits, batch.answers, batch.wrong),
    metricName: 'logit-diff',
    metrics: IOI_METRICS,
    loadReference: () => ioiReference(),
  });
  IOI_OPTIONS.set(task, o);
  return task;
}

export const ioiTask: Task = makeIoiTask({
  name: 'ioi',
  description: 'indirect object identification: 15 ABBA + 15 BABA templates, ABC corruption, logit(IO) - logit(S) (prompts right-padded, per-row metric position)',
  templates: ALL_TEMPLATE_IDS,
  prependBos: false,
  lengths: 'pad',
});

export const ioiAcdcTask: Task = makeIoiTask({
  name: 'ioi-acdc',
  description: "IOI in ACDC's configuration: template A0 only, 16-token prompts (15 seen), no BOS, ABC corruption",
  templates: ['A0'],
  prependBos: false,
  lengths: 'pad',
  gpt2PromptTokens: ACDC_PROMPT_TOKENS,
});
