/**
 * The CLI's option vocabulary, defined once: every command takes its options from here, so one
 * flag means one thing everywhere (README "CLI conventions"; CONTRIBUTING.md):
 *
 * - `-n` always counts prompts (or sequences); `--seed` seeds what the command generates.
 * - `--batch-size` always chunks the prompts into rows per forward (bounds memory; same numbers).
 * - `--top` is the length of a listing; `--top-n` the size of a circuit.
 * - `--out PATH` writes the result JSON, `--html PATH` an HTML page, `--json` prints the JSON on
 *   stdout instead of the summary; results go to stdout, notices and progress to stderr.
 * - `--quiet` silences notices and progress (never results or errors).
 * - Every number is checked (integer, range, finite) with one line naming the option.
 * - Old spellings give a one-line error naming the new one (`renamed`).
 */
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PROCESSING_STEPS } from '../model/processing.js';
import { checkMethodFlags, methodNames, methods, SELECTION_FLAGS } from '../discovery/registry.js';
import { checkNumber as checkTyped, checkNumbers, optionRule, type NumberRule } from '../util/check.js';

/** The most prompts one run takes: beyond this the prompt arrays alone outgrow memory. */
export const MAX_PROMPTS = 1_000_000;

/** What the user typed for `--flag` (for messages: yargs turns 'abc' into NaN). */
function typed(flag: string): string | undefined {
  const args = hideBin(process.argv);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${flag}` || (flag.length === 1 && a === `-${flag}`)) return args[i + 1];
    if (a.startsWith(`--${flag}=`)) return a.slice(flag.length + 3);
  }
  return undefined;
}

/** The one check of a numeric option (src/util/check.ts, the page's too), with what was typed on the command line. */
export function checkNumber(flag: string, v: unknown, rule: NumberRule): number {
  return checkTyped(flag, v, rule, typed(flag));
}

/** A numeric option checked by `rule` when parsed. */
export function numberOption(flag: string, describe: string, rule: NumberRule, extra: { default?: number; hidden?: boolean } = {}) {
  return { type: 'number', describe, coerce: (v: unknown) => (v === undefined ? v : checkNumber(flag, v, rule)), ...extra } as const;
}

/** `-n`: prompts (every command that runs a task). */
export const promptsOption = (describe = 'number of prompts', dflt?: number) =>
  ({ n: numberOption('n', describe, { int: true, min: 1, max: MAX_PROMPTS }, dflt === undefined ? {} : { default: dflt }) });

/** `--seed`: the seed of what the command generates (prompts, random tokens, preset weights). */
export const seedOption = (describe = "seed of the task's prompt generator", dflt: number | null = 0) =>
  ({ seed: numberOption('seed', describe, { int: true, min: 0 }, dflt === null ? {} : { default: dflt }) });

/** `--batch-size`: prompts per chunk. */
export const batchSizeOption = {
  'batch-size': numberOption('batch-size', 'run the prompts in chunks of this many rows (bounds memory; same numbers; default: what fits)', { int: true, min: 1 }),
} as const;

/** `--top`: how long a listing is. */
export const topOption = (describe: string, dflt: number) => ({ top: numberOption('top', describe, { int: true, min: 1 }, { default: dflt }) });

/** `--top-n` and `--threshold`: the size of a circuit, or a threshold that picks it. */
export const selectionOptions = {
  threshold: numberOption('threshold', 'ACDC threshold, or a |score| threshold for EAP/EAP-IG', { min: 0 }),
  'top-n': numberOption('top-n', 'keep the n best-scoring edges, connected (EAP/EAP-IG)', { int: true, min: 0 }),
} as const;

export const ABLATIONS = ['resample', 'zero', 'mean'] as const;
/** `--ablation`: what replaces edges outside the circuit. */
export const ablationOption = (describe = 'what replaces edges outside the circuit', dflt?: (typeof ABLATIONS)[number]) =>
  ({ ablation: { choices: ABLATIONS, describe, ...(dflt ? { default: dflt } : {}) } } as const);

/** `--metric`: the discovery objective. */
export const metricOption = {
  metric: { choices: ['kl', 'task'] as const, describe: 'objective: KL(clean||patched) or the task metric (default: kl for ACDC, task for EAP/EAP-IG)' },
} as const;

/** `--quiet`. */
export const quietOption = { quiet: { type: 'boolean', default: false, describe: 'no progress or notices (results and errors still print)' } } as const;

/** --config and --processing: how the weights are read and processed. */
export const weightOptions = {
  config: { type: 'string', describe: 'config JSON for a bare weights file (Hugging Face or TransformerLens)' },
  processing: { type: 'array', string: true, choices: PROCESSING_STEPS as unknown as string[], describe: 'weight processing steps (raw weights by default)' },
} as const;

/** --task and --data: a registered task or a custom task file. */
export const taskOptions = {
  task: { type: 'string', describe: 'task name (see `circuitscope tasks`)' },
  data: { type: 'string', describe: 'custom task JSON: { "prompts": [{ "clean", "corrupt", "answer", "wrong" }] }' },
} as const;

/** --out, --html and --json of the commands that write a result (`what`: "the patterns", ...). */
export function outputOptions(what: string) {
  return {
    out: { type: 'string', describe: `write ${what} as JSON here` },
    html: { type: 'string', describe: 'write a self-contained HTML page here' },
    json: { type: 'boolean', default: false, describe: 'print the JSON on stdout instead of the summary' },
  } as const;
}

/**
 * --task, --data, --model, --config, --processing of the commands that measure a circuit file:
 * each defaults to the circuit's (`whose`: "the circuit's", "A's"); `use` prefixes the
 * descriptions ("for --evaluate").
 */
export function circuitTaskOptions(whose: string, use = '') {
  const p = use ? `${use} ` : '';
  return {
    task: { type: 'string', describe: `task ${p}(default: ${whose})` },
    data: { type: 'string', describe: `custom task JSON ${p}instead of --task` },
    model: { type: 'string', describe: `model ${p}(default: ${whose})` },
    config: weightOptions.config,
    processing: { ...weightOptions.processing, describe: `weight processing ${p}(default: ${whose})` },
  } as const;
}

/** `--task` or `--data`, exactly one (a yargs check). */
export function oneTask(a: Record<string, unknown>): true {
  if (a.task === undefined && a.data === undefined) throw new Error('give --task <name> or --data <file.json>');
  if (a.task !== undefined && a.data !== undefined) throw new Error('give either --task or --data, not both');
  return true;
}

/**
 * Old spellings that scripts may still use: each gives a one-line error naming the new one
 * (`renamed(y, { evaluation: '--evaluate' })`: `--evaluation` and `--no-evaluation` both fail).
 */
export function renamed<T>(y: Argv<T>, old: Record<string, string>): Argv<T> {
  for (const flag of Object.keys(old)) y = y.option(flag, { hidden: true }) as Argv<T>;
  return y.check((a) => {
    for (const [flag, now] of Object.entries(old)) {
      const camel = flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      if (a[flag] !== undefined || a[camel] !== undefined) throw new Error(`--${flag} is no longer an option: use ${now}`);
    }
    return true;
  });
}

/**
 * --method and every method's own options (from the registry: no defaults here, a method
 * applies its own), plus --greedy of the score methods. `methodFlagsGiven` lists the ones set.
 */
export function methodOptions() {
  const o: Record<string, object> = { method: { choices: methodNames(), default: 'acdc', describe: 'discovery method (see docs/methods.md)' } };
  for (const m of methods()) {
    for (const x of m.options) {
      if (o[x.flag]) continue;
      o[x.flag] = x.type === 'number' && x.list ? { type: 'string', describe: x.describe, coerce: (v: unknown) => (v === undefined ? v : checkNumbers(x.flag, v, optionRule(x), typed(x.flag))) }
        : x.type === 'number' ? numberOption(x.flag, x.describe, optionRule(x)) : x.type === 'string' ? { type: 'string', describe: x.describe } : { type: 'boolean', describe: x.describe };
    }
  }
  o.greedy = { type: 'boolean', describe: 'EAP/EAP-IG: grow the circuit greedily from the logits (with --top-n)' };
  return o;
}

/** The method flags the user set (yargs leaves an unset option without a default undefined). */
export function methodFlagsGiven(a: Record<string, unknown>): string[] {
  const flags = new Set<string>([...SELECTION_FLAGS, ...methods().flatMap((m) => m.options.map((x) => x.flag))]);
  return [...flags].filter((f) => a[f] !== undefined);
}

/** A yargs check: the options the chosen --method does not take are refused (see checkMethodFlags). */
export function methodCheck(a: Record<string, unknown>): true {
  checkMethodFlags(String(a.method), methodFlagsGiven(a));
  return true;
}
