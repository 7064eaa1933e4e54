/**
 * One activation / path patching run as `circuitscope patch` makes it, for the CLI and for the
 * browser app's worker alike (one implementation): the clean and corrupted runs
 * (`preparePatching`), then the sweeps of each kind in turn (`runPatching`, one kind at a time so
 * that a caller can time and report each), and the result shaped as `patch --json` prints it
 * (`patchOutput`). The heatmaps are ./patch-report.ts's `sweepSvgs` of the result.
 *
 * `taskPatchBatch` picks one prompt of a task's batch for it (what the page's Patching panel
 * runs): the row's tokens (up to its prompt length when the task pads rows), one of its metric
 * positions, the answer there and the wrong token: the task's first wrong token at that position,
 * or, for tasks that score the answer alone (the toy tasks: no wrong tokens), the corrupted
 * prompt's own answer there (`meta.corruptLabels`), the convention of activation patching on
 * toy models (the corrupted behaviour is the corrupted prompt's answer).
 */
import type { HookedTransformer } from '../model/transformer.js';
import {
  preparePatching, runPatching,
  type PatchBatch, type PatchContext, type PatchKind, type PatchMode, type PatchResult, type Sweep,
} from '../patching/activation.js';
import type { TaskBatch } from '../tasks/types.js';

/** The kinds one by one ('all' spelled out), in runPatching's order. */
export const KIND_ORDER: readonly Exclude<PatchKind, 'all'>[] = ['resid', 'heads', 'qkv', 'pattern', 'path'];

export function expandKinds(kinds: readonly PatchKind[]): PatchKind[] {
  return KIND_ORDER.filter((k) => kinds.includes(k) || kinds.includes('all'));
}

/** The sweeps the kinds give (see runPatching), for the SVG file names checked before the run. */
export function sweepNames(kinds: readonly PatchKind[], senders: readonly string[], receivers: readonly string[]): string[] {
  const names: Record<PatchKind, string[]> = {
    resid: ['resid_pre'], heads: ['head_out'], qkv: ['head_q', 'head_k', 'head_v'], pattern: ['head_pattern'],
    path: ['path_logits', ...(senders.length && receivers.length ? ['path'] : senders.length ? ['path_q', 'path_k', 'path_v'] : receivers.length ? ['path_to_receivers'] : [])],
    all: [],
  };
  return expandKinds(kinds).flatMap((k) => names[k]);
}

/** The stage name of one kind's sweeps (the CLI's progress line): 'resid sweep', 'qkv sweeps'. */
export const kindStage = (k: PatchKind): string => `${k} sweep${k === 'qkv' ? 's' : ''}`;

/** What `circuitscope patch --json` prints (and `--out` writes). */
export interface PatchOutput extends Omit<PatchResult, 'sweeps'> {
  model: string;
  backend: string;
  prompts: { clean: number[]; corrupt: number[]; answer: number; wrong: number; position: number }[];
  options: { kinds: PatchKind[]; senders: string[]; receivers: string[] };
  sweeps: Record<string, Omit<Sweep, 'name'>>;
  seconds: number;
}

export interface PatchRunOptions {
  mode: PatchMode;
  kinds: readonly PatchKind[];
  senders?: string[];
  receivers?: string[];
  /** rows (patched runs x prompts) per batched forward (`--max-rows`) */
  maxRows?: number;
  /**
   * runs one stage: 'clean and corrupted runs', then one per kind (`kindStage`), in order (the
   * CLI's progress stages; the page's status line); default: runs it
   */
  stage?: <T>(name: string, f: () => Promise<T>) => Promise<T>;
  /** told once the clean and corrupted runs are done, before the sweeps */
  onPrepared?: (ctx: PatchContext) => void;
}

/**
 * The clean and corrupted runs, then every sweep the kinds ask for (one kind at a time, in
 * runPatching's order: the same numbers as one runPatching call).
 */
export async function patchRun(model: HookedTransformer, batch: PatchBatch, opts: PatchRunOptions): Promise<{ ctx: PatchContext; result: PatchResult }> {
  const stage = opts.stage ?? (<T>(_name: string, f: () => Promise<T>) => f());
  const senders = opts.senders ?? [], receivers = opts.receivers ?? [];
  const ctx = await stage('clean and corrupted runs', () => preparePatching(model, batch, opts.mode));
  opts.onPrepared?.(ctx);
  const sweeps: Sweep[] = [];
  let result: PatchResult | null = null;
  for (const k of expandKinds(opts.kinds)) {
    result = await stage(kindStage(k), () => runPatching(ctx, { kinds: [k], senders, receivers, maxRows: opts.maxRows }));
    sweeps.push(...result.sweeps);
  }
  result = { ...(result ?? await runPatching(ctx, { kinds: [] })), sweeps };
  return { ctx, result };
}

/** The run as `patch --json` prints it: `seconds` is the caller's (the CLI: from its start, loading included). */
export function patchOutput(
  run: { ctx: PatchContext; result: PatchResult },
  meta: { model: string; backend: string; kinds: PatchKind[]; senders: string[]; receivers: string[]; seconds: number },
): PatchOutput {
  const { ctx, result } = run;
  return {
    model: meta.model, backend: meta.backend, mode: result.mode, metric: result.metric, normalisation: result.normalisation,
    clean: result.clean, corrupted: result.corrupted,
    prompts: ctx.clean.map((c, i) => ({ clean: c, corrupt: ctx.corrupt[i], answer: ctx.answers[i], wrong: ctx.wrongs[i], position: ctx.positions[i] })),
    options: { kinds: meta.kinds, senders: meta.senders, receivers: meta.receivers },
    sweeps: Object.fromEntries(result.sweeps.map(({ name, ...rest }) => [name, rest])),
    seconds: meta.seconds,
  };
}

/**
 * Prompt `index` of a task's batch as a one-prompt patching batch, read at the row's `which`-th
 * metric position (0: its first; tasks such as permute-lists score several). The row is cut at
 * its prompt length when the task pads rows (`meta.promptLength`). `name` names the task in
 * errors. The wrong token: the task's first at that position, else the corrupted prompt's
 * answer there (`meta.corruptLabels`), which must differ from the clean answer.
 */
export function taskPatchBatch(batch: TaskBatch, index: number, which: number, name: string): PatchBatch {
  const fail: (msg: string) => never = (msg) => { throw new Error(`patch: ${name}: ${msg}`); };
  const B = batch.clean.length;
  if (!Number.isInteger(index) || index < 0 || index >= B) fail(`prompt ${index} is outside the task's ${B} prompts`);
  const positions = batch.positions[index];
  const K = positions.length;
  if (!Number.isInteger(which) || which < 0 || which >= K) fail(`metric position ${which} is outside prompt ${index}'s ${K} metric position${K === 1 ? '' : 's'} [0, ${K})`);
  const lens = batch.meta?.promptLength;
  const len = Array.isArray(lens) && typeof lens[index] === 'number' ? (lens[index] as number) : batch.clean[index].length;
  const position = positions[which];
  if (position >= len) fail(`prompt ${index}: metric position ${position} is past its ${len} tokens`);
  const answer = batch.answers[index][which];
  let wrong: number | undefined = batch.wrong[index]?.[which]?.[0];
  if (wrong === undefined) {
    const corruptLabels = batch.meta?.corruptLabels as number[][] | undefined;
    wrong = corruptLabels?.[index]?.[which];
    if (wrong === undefined) fail(`prompt ${index} has no wrong token at metric position ${which}, and the task gives no corrupted answer to use instead: activation patching scores a logit difference (answer - wrong)`);
    if (wrong === answer) fail(`prompt ${index}: its corrupted prompt has the same answer (token ${answer}) at metric position ${which}, so the logit difference has no wrong token to compare with; choose another prompt or position`);
  }
  return {
    clean: [batch.clean[index].slice(0, len)], corrupt: [batch.corrupt[index].slice(0, len)],
    answers: [answer], wrongs: [wrong], positions: [position],
  };
}
