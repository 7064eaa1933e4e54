/**
 * `--corrupt flip:<spec>`: the IOI flipped-prompt datasets (src/tasks/ioi, `parseIoiFlip`) as
 * the corrupted distribution of `discover` (a task variant) and `patch` (each clean text prompt
 * rewritten). One place parses the option so both commands say the same thing about it.
 *
 * Specs: `flip:ABB->CDD`, `flip:ABB->BAA`, `flip:ABB->BAB`, `flip:ABB->DCD`, `flip:ABB->ABA`
 * and `flip:ABB->ABB` (= `flip:original`, the clean prompts themselves); `BAB->...` spellings
 * are accepted, and so is the target alone (`flip:BAB`), which a shell leaves alone (an
 * unquoted `>` is a redirection). `abc` names the IOI task's own corruption (the default).
 */
import { flipIoiText, ioiFlipVariant, NAMES, parseIoiFlip, type IoiFlip } from './index.js';
import type { Task } from '../types.js';
import { Rng } from '../../util/rng.js';

export const FLIP_PREFIX = 'flip:';

export function isFlipSpec(s: unknown): s is string {
  return typeof s === 'string' && s.trim().startsWith(FLIP_PREFIX);
}

/** The flip of a `flip:...` option value; errors name the option. */
export function parseFlipOption(value: string, option = '--corrupt'): IoiFlip {
  if (!isFlipSpec(value)) throw new Error(`${option} '${value}': expected flip:ABB->XYZ (e.g. 'flip:ABB->BAB', or flip:BAB) or abc`);
  try {
    return parseIoiFlip(value.trim().slice(FLIP_PREFIX.length));
  } catch (e) {
    throw new Error(`${option} '${value}': ${(e as Error).message.replace(/^ioi: /, '')}`);
  }
}

/** `task` with the corruption `spec` (`abc` = unchanged, `flip:...` = the IOI flip variant). */
export function taskWithCorruption(task: Task, spec: string | undefined, command = 'discover'): Task {
  if (spec === undefined || spec.trim() === 'abc') return task;
  let flip: IoiFlip;
  try {
    flip = parseFlipOption(spec);
  } catch (e) {
    throw new Error(`${command}: ${(e as Error).message}`);
  }
  try {
    return ioiFlipVariant(task, flip);
  } catch (e) {
    throw new Error(`${command}: --corrupt ${spec}: ${(e as Error).message.replace(/^ioi: /, '')}`);
  }
}

/** Two fresh names (C, D) for prompt `index`, neither in `avoid`; deterministic in the index. */
export function freshNames(index: number, avoid: readonly string[]): [string, string] {
  const rng = new Rng(0x5eed + index);
  const out: string[] = [];
  while (out.length < 2) {
    const n = rng.pick(NAMES);
    if (!out.includes(n) && !avoid.includes(n)) out.push(n);
  }
  return [out[0], out[1]];
}

/**
 * The corrupted text of clean prompt `index` under a flip spec (`flip:ABB->BAB`). The fresh
 * names are drawn from the IOI names so that they are single tokens wherever the IOI task runs.
 */
export function flipPromptText(clean: string, spec: string, index: number, option = '--corrupt'): string {
  const flip = parseFlipOption(spec, option);
  const names = clean.match(new RegExp(`\\b(${NAMES.join('|')})\\b`, 'g')) ?? [];
  try {
    return flipIoiText(clean, flip, freshNames(index, names));
  } catch (e) {
    throw new Error(`${option} ${spec} (prompt ${index}): ${(e as Error).message.replace(/^ioi: /, '')}`);
  }
}

interface FlagPrompts { clean?: string[]; corrupt?: string[] }

/**
 * `patch` flags with flips expanded: one `--corrupt flip:...` applies to every `--clean`
 * prompt; a `flip:` value among several `--corrupt` values applies to its own prompt. Flags
 * without a flip come back unchanged.
 */
export function expandFlipFlags<T extends FlagPrompts>(a: T): T {
  const corrupt = a.corrupt ?? [];
  if (!corrupt.some(isFlipSpec)) return a;
  const clean = a.clean ?? [];
  const specs = corrupt.length === 1 ? clean.map(() => corrupt[0]) : corrupt;
  if (specs.length !== clean.length) return a; // the prompt-count error is the caller's
  return { ...a, corrupt: clean.map((c, i) => (isFlipSpec(specs[i]) ? flipForPatch(c, specs[i], i) : specs[i])) };
}

/** Prompt specs (from flags or a --data file) with `flip:` corruptions replaced by text. */
export function applyFlipPrompts<P extends { clean: string | number[]; corrupt: string | number[] }>(prompts: P[]): P[] {
  return prompts.map((p, i) => {
    if (!isFlipSpec(p.corrupt)) return p;
    if (typeof p.clean !== 'string') throw new Error(`patch: prompt ${i}: corrupt '${p.corrupt}' needs a text clean prompt, not token ids`);
    return { ...p, corrupt: flipForPatch(p.clean, p.corrupt, i) };
  });
}

function flipForPatch(clean: string, spec: string, i: number): string {
  try {
    const flip = parseFlipOption(spec);
    if (flip.io === 'A' && flip.s1 === 'B' && flip.s2 === 'B') {
      throw new Error(`--corrupt ${spec} is the clean prompt itself, so patching has nothing to move (the normalised metric is undefined); its logit difference is the 'clean' value every other flip reports`);
    }
    return flipPromptText(clean, spec, i);
  } catch (e) {
    throw new Error(`patch: ${(e as Error).message}`);
  }
}
