/**
 * `circuitscope patch`: TransformerLens-style activation and path patching sweeps
 * (src/patching/activation.ts) over one or more clean / corrupted prompt pairs, written as
 * JSON, SVG heatmaps and a self-contained HTML page, with a short terminal summary.
 *
 * Prompts: `--clean`, `--corrupt`, `--answer`, `--wrong` (repeat them for several prompts; one
 * `--answer` / `--wrong` applies to every prompt), or `--data file.json` holding
 * `{ "prompts": [{ "clean", "corrupt", "answer", "wrong", "position"? }] }`. A prompt is text
 * for a model with a tokenizer (GPT-2: BOS prepended unless --no-prepend-bos) or an array of
 * token ids; for a toy model without a tokenizer a string is a comma-separated id list used as
 * is. An answer is a text of exactly one token or a token id. The output JSON's `prompts` has
 * the same shape (as ids), so a result file replays as a --data file.
 *
 * Output JSON: `{ model, backend, mode, metric, normalisation, clean, corrupted, prompts,
 * options, sweeps: { <name>: { title, rows, cols, rowLabels, colLabels, values, raw } }, seconds }`
 * where `values` are normalised ((patched - corrupted) / (clean - corrupted)) and `raw` are
 * logit differences; null marks a cell that does not exist (e.g. no edge for path patching).
 *
 * `--max-rows` bounds the rows (patched runs x prompts) of one batched forward; it was
 * `--batch-size` before, which now means prompts per chunk everywhere else.
 */
import { readFileSync } from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { ModelConfig } from '../../model/config.js';
import { loadModel } from '../../model/load-model.js';
import { tokenizerFor } from '../../model/tokenizer.js';
import { PATCH_KINDS, PATCH_MODES, topCells, type PatchBatch, type PatchKind, type PatchMode } from '../../patching/activation.js';
import { sweepSvgs } from '../../analysis/patch-report.js';
import { patchOutput, patchRun, sweepNames, type PatchOutput } from '../../analysis/patch-run.js';
import { htmlPage } from '../../report/heatmap.js';
import { applyFlipPrompts, expandFlipFlags } from '../../tasks/ioi/corruption.js';
import { fmtNum } from '../../util/format.js';
import { inputPaths } from '../context.js';
import { numberOption, outputOptions, quietOption, renamed, seedOption, weightOptions } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs, type PathArg } from '../output.js';
import { Stages } from '../progress.js';

interface PatchArgs {
  backend: BackendName;
  model: string;
  clean?: string[];
  corrupt?: string[];
  answer?: string[];
  wrong?: string[];
  data?: string;
  kind: PatchKind[];
  senders?: string;
  receivers?: string;
  mode: PatchMode;
  position?: number;
  out?: string;
  html?: string;
  svg?: string;
  json: boolean;
  prependBos?: boolean;
  config?: string;
  processing?: string[];
  seed: number;
  maxRows?: number;
  quiet: boolean;
}

type PromptValue = string | number[];
type AnswerValue = string | number;

export interface PromptSpec {
  clean: PromptValue;
  corrupt: PromptValue;
  answer: AnswerValue;
  wrong: AnswerValue;
  position?: number;
}

// the run and its JSON are src/analysis/patch-run.ts's (the browser app's worker runs the same)
export { expandKinds, sweepNames, type PatchOutput } from '../../analysis/patch-run.js';

function fail(msg: string): never {
  throw new Error(`patch: ${msg}`);
}

const show = (v: PromptValue | AnswerValue) => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.join(',')}]` : String(v));

/** Read `{ prompts: [...] }` from a JSON file, checking each entry's fields. */
export function readPromptFile(path: string): PromptSpec[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`--data ${path}: ${(e as Error).message}`);
  }
  const prompts = (json as { prompts?: unknown })?.prompts;
  if (!Array.isArray(prompts) || prompts.length === 0) fail(`--data ${path}: expected { "prompts": [{ "clean", "corrupt", "answer", "wrong" }, ...] } with at least one prompt`);
  const isPrompt = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
  const isAnswer = (v: unknown) => typeof v === 'string' || typeof v === 'number';
  return prompts.map((p: Record<string, unknown>, i) => {
    if (typeof p !== 'object' || p === null) fail(`--data ${path}: prompts[${i}] is not an object`);
    for (const k of ['clean', 'corrupt'] as const) if (!isPrompt(p[k])) fail(`--data ${path}: prompts[${i}].${k} must be a string or an array of token ids, got ${JSON.stringify(p[k])}`);
    for (const k of ['answer', 'wrong'] as const) if (!isAnswer(p[k])) fail(`--data ${path}: prompts[${i}].${k} must be a one-token string or a token id, got ${JSON.stringify(p[k])}`);
    if (p.position !== undefined && !Number.isInteger(p.position)) fail(`--data ${path}: prompts[${i}].position must be an integer, got ${JSON.stringify(p.position)}`);
    return { clean: p.clean as PromptValue, corrupt: p.corrupt as PromptValue, answer: p.answer as AnswerValue, wrong: p.wrong as AnswerValue, position: p.position as number | undefined };
  });
}

/** Prompts from repeated --clean/--corrupt/--answer/--wrong (one answer / wrong applies to all). */
export function promptsFromFlags(a: { clean?: string[]; corrupt?: string[]; answer?: string[]; wrong?: string[] }): PromptSpec[] {
  const clean = a.clean ?? [], corrupt = a.corrupt ?? [], answer = a.answer ?? [], wrong = a.wrong ?? [];
  if (clean.length === 0) fail('give --clean "<prompt>" --corrupt "<prompt>" --answer "<token>" --wrong "<token>", or --data prompts.json');
  if (corrupt.length !== clean.length) fail(`${clean.length} --clean prompt(s) but ${corrupt.length} --corrupt prompt(s); give one --corrupt per --clean`);
  const per = (xs: string[], flag: string) => {
    if (xs.length === 1) return clean.map(() => xs[0]);
    if (xs.length !== clean.length) fail(`${clean.length} prompt(s) but ${xs.length} ${flag} value(s); give one ${flag} for all prompts or one per prompt`);
    return xs;
  };
  const ans = per(answer, '--answer'), wr = per(wrong, '--wrong');
  return clean.map((c, i) => ({ clean: c, corrupt: corrupt[i], answer: ans[i], wrong: wr[i] }));
}

/**
 * Token ids of every prompt, answer and metric position. `where(i, field)` names the source of
 * a value in errors (`--answer` or `prompts.json: prompts[2].answer`).
 */
export function resolvePrompts(cfg: ModelConfig, specs: PromptSpec[], opts: { prependBos?: boolean; position?: number; where: (i: number, field: string) => string }): PatchBatch {
  const tok = tokenizerFor(cfg);
  const text = cfg.tokenizerName !== null;
  const toIds = (v: PromptValue, i: number, field: string): number[] => {
    try {
      if (Array.isArray(v)) return v;
      return text ? tok.toTokens(v, { prependBos: opts.prependBos ?? cfg.defaultPrependBos }) : tok.encode(v);
    } catch (e) {
      fail(`${opts.where(i, field)} ${show(v)}: ${(e as Error).message}`);
    }
  };
  const toId = (v: AnswerValue, i: number, field: string): number => {
    let id: number;
    try {
      id = typeof v === 'number' ? v : tok.toSingleToken(v);
    } catch (e) {
      fail(`${opts.where(i, field)} ${show(v)}: ${(e as Error).message}; answers must be single tokens`);
    }
    if (!Number.isInteger(id) || id < 0 || id >= cfg.dVocabOut) fail(`${opts.where(i, field)} ${show(v)}: token id ${id} is outside the model's output vocabulary [0, ${cfg.dVocabOut})`);
    return id;
  };
  const batch: PatchBatch = { clean: [], corrupt: [], answers: [], wrongs: [], positions: [] };
  specs.forEach((s, i) => {
    const c = toIds(s.clean, i, 'clean'), k = toIds(s.corrupt, i, 'corrupt');
    if (c.length !== k.length) {
      fail(`prompt ${i}: the clean prompt ${show(s.clean)} is ${c.length} tokens but the corrupted prompt ${show(s.corrupt)} is ${k.length} tokens; they must tokenise to the same length`);
    }
    if (batch.clean.length > 0 && c.length !== batch.clean[0].length) {
      fail(`prompt ${i} ${show(s.clean)} is ${c.length} tokens but prompt 0 is ${batch.clean[0].length}; every prompt must have the same length`);
    }
    const pos = s.position ?? opts.position ?? -1;
    const p = pos < 0 ? c.length + pos : pos;
    if (!Number.isInteger(p) || p < 0 || p >= c.length) fail(`prompt ${i}: metric position ${pos} is outside a ${c.length}-token prompt`);
    batch.clean.push(c); batch.corrupt.push(k);
    batch.answers.push(toId(s.answer, i, 'answer')); batch.wrongs.push(toId(s.wrong, i, 'wrong'));
    batch.positions!.push(p);
  });
  return batch;
}

const splitList = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');

const fmt = (v: number | null) => fmtNum(v);

/** The terminal summary: metrics, then each sweep's top-5 cells. */
export function formatSummary(o: PatchOutput): string {
  const lines: string[] = [];
  lines.push(`model      ${o.model}`);
  lines.push(`backend    ${o.backend}`);
  lines.push(`mode       ${o.mode} (${o.mode === 'denoise' ? 'corrupted run, clean activations patched in; unpatched = 0' : 'clean run, corrupted activations patched in; unpatched = 1'})`);
  lines.push(`metric     ${o.metric}: clean ${fmt(o.clean)}, corrupted ${fmt(o.corrupted)} (${o.prompts.length} prompt${o.prompts.length === 1 ? '' : 's'})`);
  lines.push(`normalised ${o.normalisation}`);
  for (const [name, s] of Object.entries(o.sweeps)) {
    lines.push('');
    lines.push(`${name}: ${s.title} [${s.rows} x ${s.cols}], top cells`);
    const top = topCells({ name, ...s }, o.mode, 5);
    const w = Math.max(0, ...top.map((c) => `${c.row}, ${c.col}`.length));
    for (const c of top) {
      const i = s.rowLabels.indexOf(c.row), j = s.colLabels.indexOf(c.col);
      lines.push(`  ${`${c.row}, ${c.col}`.padEnd(w)}  ${fmt(c.value).padStart(9)}  (raw ${fmt(s.raw[i][j])})`);
    }
  }
  return lines.join('\n');
}

export const patchCommand: CommandModule<object, PatchArgs> = {
  command: 'patch',
  describe: 'Activation and path patching sweeps (resid_pre, heads, q/k/v, patterns, paths) with heatmaps',
  builder: (y: Argv) => renamed(y
    .option('model', { type: 'string', demandOption: true, describe: 'a checkpoint directory or file, a Hugging Face cache name (gpt2), a shipped model, or a preset (random weights)' })
    .option('clean', { type: 'array', string: true, describe: 'clean prompt (repeat for several); a toy model takes ids: 52,42,17' })
    .option('corrupt', { type: 'array', string: true, describe: 'corrupted prompt, same token length as its clean prompt (repeat); or an IOI flip of the clean prompt: "flip:ABB->BAB" or flip:BAB (once for all prompts)' })
    .option('answer', { type: 'array', string: true, describe: 'the clean answer, one token (" Mary"; a toy model: an id); once for all prompts or once per prompt' })
    .option('wrong', { type: 'array', string: true, describe: 'the wrong (corrupted) answer, one token; once for all prompts or once per prompt' })
    .option('data', { type: 'string', describe: 'JSON file { "prompts": [{ "clean", "corrupt", "answer", "wrong", "position"? }] }; prompts as text or id arrays' })
    .option('kind', {
      type: 'array', string: true, choices: PATCH_KINDS, default: ['all'],
      coerce: (xs: string[]) => xs.flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== ''),
      describe: 'sweeps: resid (resid_pre by layer x position), heads (head outputs), qkv, pattern, path (head -> logits, plus --senders/--receivers), all',
    })
    .option('senders', { type: 'string', describe: 'path patching senders, comma separated: 9.6,9.9 (or a9.h6, m3, input)' })
    .option('receivers', { type: 'string', describe: 'path patching receivers, comma separated: a10.h7<q>, a10.h7 (q, k and v), 10.7, m3, logits' })
    .option('mode', { choices: PATCH_MODES, default: 'denoise' as PatchMode, describe: 'denoise: corrupted run, patch clean in; noise: clean run, patch corrupted in' })
    .option('position', numberOption('position', 'metric position for every prompt (negative counts from the end; default -1, the last)', { int: true }))
    .options(outputOptions('the result'))
    .option('svg', { type: 'string', describe: 'write one SVG heatmap per sweep to <prefix><sweep>.svg' })
    .option('prepend-bos', { type: 'boolean', describe: 'prepend BOS to text prompts (default: the model\'s default, on for GPT-2)' })
    .options(weightOptions)
    .options(seedOption('seed of the random weights of a preset'))
    .option('max-rows', numberOption('max-rows', 'rows (patched runs x prompts) per batched forward; bounds memory, same numbers (default: from the model size)', { int: true, min: 1 }))
    .options(quietOption)
    .conflicts('data', ['clean', 'corrupt'])
    .check((a) => {
      if (a.data === undefined && a.clean === undefined) return 'Give --clean/--corrupt/--answer/--wrong, or --data prompts.json.';
      return true;
    })
    .example('$0 patch --model gpt2 --clean "When Mary and John went to the store, John gave a drink to" --corrupt "When Mary and John went to the store, Paul gave a drink to" --answer " Mary" --wrong " John" --html ioi.html', '')
    .example('$0 patch --model ./permute_lists --data prompts.json --kind path --senders 0.0 --json', ''),
  { 'batch-size': '--max-rows (rows per batched forward)' }) as unknown as Argv<PatchArgs>,
  handler: async (argv: ArgumentsCamelCase<PatchArgs>) => {
    const t0 = performance.now();
    const quiet = argv.quiet;
    const kinds = [...new Set(argv.kind)];
    const senders = splitList(argv.senders), receivers = splitList(argv.receivers);
    const outputs: PathArg[] = [
      ...(argv.out ? [{ flag: '--out', path: argv.out }] : []),
      ...(argv.html ? [{ flag: '--html', path: argv.html }] : []),
      ...(argv.svg !== undefined ? sweepNames(kinds, senders, receivers).map((n) => ({ flag: '--svg', path: `${argv.svg}${n}.svg` })) : []),
    ];
    checkOutputs('patch', outputs, inputPaths(argv));
    const fromFile = argv.data !== undefined;
    const specs = applyFlipPrompts(fromFile ? readPromptFile(argv.data!) : promptsFromFlags(expandFlipFlags(argv)));
    const stages = new Stages('patch', quiet);
    const { backend, model } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      return { backend, ...(await loadModel(argv.model, { config: argv.config, processing: argv.processing, seed: argv.seed, quiet })) };
    });
    try {
      const batch = resolvePrompts(model.cfg, specs, {
        prependBos: argv.prependBos, position: argv.position,
        where: (i, field) => (fromFile ? `${argv.data}: prompts[${i}].${field}` : `--${field}${specs.length > 1 ? ` (prompt ${i})` : ''}`),
      });
      // One stage per kind (src/analysis/patch-run.ts, which the browser app runs too).
      const run = await patchRun(model, batch, {
        mode: argv.mode, kinds, senders, receivers, maxRows: argv.maxRows,
        stage: (name, f) => stages.run(name, f),
        onPrepared: () => {
          if (!quiet && kinds.length === 1 && kinds[0] === 'path' && senders.length === 0 && receivers.length === 0) {
            process.stderr.write('note: --kind path without --senders or --receivers runs only the head -> logits sweep\n');
          }
        },
      });
      const { result } = run;
      const out: PatchOutput = patchOutput(run, { model: argv.model, backend, kinds, senders, receivers, seconds: (performance.now() - t0) / 1000 });
      const jsonText = `${JSON.stringify(out, null, 2)}\n`;
      const files: { path: string; text: string }[] = [];
      if (argv.out) files.push({ path: argv.out, text: jsonText });
      // One colour scale for every sweep of the run (the same quantity in each).
      const svgs = sweepSvgs(result.sweeps, result.mode);
      if (argv.svg !== undefined) for (const s of svgs) files.push({ path: `${argv.svg}${s.name}.svg`, text: `${s.svg}\n` });
      if (argv.html) {
        const tok = tokenizerFor(model.cfg);
        const str = (ids: number[]) => (model.cfg.tokenizerName !== null ? JSON.stringify(tok.decode(ids)) : `[${ids.join(',')}]`);
        files.push({
          path: argv.html,
          text: htmlPage({
            title: `Activation patching: ${argv.model}`,
            intro: [
              `Mode ${result.mode}: ${result.mode === 'denoise' ? 'the corrupted prompts run and clean activations are patched in (unpatched = 0).' : 'the clean prompts run and corrupted activations are patched in (unpatched = 1).'}`,
              `Values are the normalised logit difference ${result.normalisation}. Every heatmap uses the same colour scale. Hover a cell for its value and raw logit difference.`,
            ],
            facts: [
              ['model', argv.model], ['backend', backend], ['mode', result.mode],
              ['logit diff, clean', fmt(result.clean)], ['logit diff, corrupted', fmt(result.corrupted)],
              ...out.prompts.flatMap((p, i): [string, string][] => [
                [`prompt ${i} clean`, `${str(p.clean)} -> ${JSON.stringify(tok.idToString(p.answer))} vs ${JSON.stringify(tok.idToString(p.wrong))} at position ${p.position}`],
                [`prompt ${i} corrupted`, str(p.corrupt)],
              ]).slice(0, 20),
            ],
            figures: svgs.map((s) => ({ svg: s.svg })),
          }),
        });
      }
      const written = writeOutputs(files);
      process.stdout.write(argv.json ? jsonText : `${formatSummary(out)}\n${stages.summary()}\n`);
      reportWritten(written, quiet);
    } finally {
      model.dispose();
    }
  },
};
