/**
 * `circuitscope sweep --task T --method M [--thresholds ...] [--top-n ...]`: discovery over a
 * grid, every circuit measured on the same prompts, ROC points and ACDC's pessimistic AUC
 * against the reference circuit, the faithfulness-vs-edges curve, and MIB's CPR/CMD. Writes
 * the sweep JSON, a self-contained HTML page with the plots, and with --svg one SVG per plot.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { methodNames } from '../../discovery/registry.js';
import type { AblationKind } from '../../patching/ablation.js';
import { getTask } from '../../tasks/registry.js';
import { loadCustomTask } from '../../tasks/custom.js';
import { sweep, type SweepResult } from '../../eval/sweep.js';
import { sweepFigures, sweepHtml } from '../../eval/html.js';
import { modelForTask, referenceOption } from '../context.js';
import { startWorkers, workersOption } from '../workers.js';
import { taskOptions, weightOptions } from '../options.js';

/**
 * A list of numbers from `1e-3,1e-2 0.1` (commas or separate words), or a log grid
 * `log:LO:HI:COUNT` (COUNT values from LO to HI, evenly spaced in log10).
 */
export function parseNumberList(parts: readonly (string | number)[], what: string): number[] {
  const out: number[] = [];
  for (const p of parts.flatMap((x) => String(x).split(',')).map((x) => x.trim()).filter(Boolean)) {
    const m = /^log:([^:]+):([^:]+):(\d+)$/.exec(p);
    if (m) {
      const lo = Number(m[1]), hi = Number(m[2]), k = Number(m[3]);
      if (!(lo > 0 && hi > 0 && k >= 1)) throw new Error(`${what}: '${p}' needs LO > 0, HI > 0 and COUNT >= 1`);
      for (let i = 0; i < k; i++) out.push(Number((10 ** (Math.log10(lo) + (k === 1 ? 0 : (i * (Math.log10(hi) - Math.log10(lo))) / (k - 1)))).toPrecision(6)));
      continue;
    }
    const v = Number(p);
    if (!Number.isFinite(v)) throw new Error(`${what}: '${p}' is not a number (give numbers separated by commas, or log:LO:HI:COUNT)`);
    out.push(v);
  }
  if (out.length === 0) throw new Error(`${what}: no values given`);
  return out;
}

export function sweepText(s: SweepResult): string {
  const f = (x: number | null, d = 4) => (x === null ? 'n/a' : x.toFixed(d));
  const L = [`${s.method} sweep on ${s.task} (${s.model}), ${s.ablation} ablation, ${s.n} prompts: ${s.points.length} circuits in ${s.seconds.toFixed(1)} s`];
  L.push(`  ${'threshold'.padEnd(10)} ${'top-n'.padEnd(6)} ${'edges'.padEnd(6)} ${'faithful'.padEnd(9)} ${'KL'.padEnd(9)} ${'TPR'.padEnd(6)} FPR`);
  for (const p of s.points) {
    L.push(`  ${(p.threshold === null ? '-' : p.threshold.toExponential(2)).padEnd(10)} ${(p.topN === null ? '-' : String(p.topN)).padEnd(6)} ${String(p.edges).padEnd(6)} ${f(p.faithfulness).padEnd(9)} ${f(p.kl).padEnd(9)} ${f(p.tpr, 3).padEnd(6)} ${f(p.fpr, 3)}`);
  }
  if (s.auc) L.push(`AUC vs ${s.reference!.name}: edges ${s.auc.edge.toFixed(4)}, nodes ${s.auc.node.toFixed(4)} (pessimistic staircase)`);
  else L.push('no reference circuit: no ROC');
  if (s.mib) L.push(`MIB (${s.mib.from}): CPR ${s.mib.cpr.toFixed(4)}, CMD ${s.mib.cmd.toFixed(4)}`);
  return L.join('\n');
}

interface SweepArgs {
  backend: BackendName;
  task?: string;
  data?: string;
  model?: string;
  config?: string;
  processing?: string[];
  method: string;
  thresholds?: string[];
  topN?: string[];
  metric?: 'kl' | 'task';
  ablation: AblationKind;
  n: number;
  seed: number;
  splitEmbed: boolean;
  reference?: string;
  countDirect: boolean;
  speculate: number;
  steps: number;
  absValue: boolean;
  batchSize?: number;
  workers: string;
  out: string;
  html?: string;
  svg?: string;
  json: boolean;
  quiet: boolean;
}

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep',
  describe: 'Run discovery over a threshold grid: ROC points and AUC vs the reference, faithfulness vs edges, CPR/CMD',
  builder: (y: Argv<object>) => y
    .options(taskOptions)
    .option('model', { type: 'string', describe: "model (default: the task's)" })
    .options(weightOptions)
    .option('method', { choices: methodNames(), default: 'acdc', describe: 'discovery method' })
    .option('thresholds', { type: 'array', string: true, describe: 'ACDC thresholds or |score| thresholds: 1e-3,1e-2 or log:1e-5:1:11 (ACDC default log:1e-5:1:11)' })
    .option('top-n', { type: 'array', string: true, describe: 'EAP/EAP-IG circuit sizes (default: every size to 64, then a log grid)' })
    .option('metric', { choices: ['kl', 'task'] as const, describe: 'discovery objective (default: kl for ACDC, task for EAP)' })
    .option('ablation', { choices: ['resample', 'zero', 'mean'] as const, default: 'resample' as const, describe: 'ablation for discovery and evaluation' })
    .option('n', { type: 'number', default: 100, describe: 'number of prompts' })
    .option('seed', { type: 'number', default: 0, describe: 'prompt seed' })
    .option('split-embed', { type: 'boolean', default: false, describe: 'split the input sender into tok and pos' })
    .option('reference', { type: 'string', describe: "reference circuit: task name, file, or 'none' (default: the task's)" })
    .option('count-direct', { type: 'boolean', default: false, describe: "edge ROC with ACDC's q/k/v direct edges" })
    .option('speculate', { type: 'number', default: 8, describe: 'ACDC speculative batch' })
    .option('steps', { type: 'number', default: 5, describe: 'EAP-IG steps' })
    .option('abs-value', { type: 'boolean', default: false, describe: 'ACDC: |metric change| against the threshold' })
    .option('batch-size', { type: 'number', describe: 'run the prompts in chunks of this many rows (bounds memory; same numbers)' })
    .option('workers', workersOption)
    .option('out', { type: 'string', default: 'sweep.json', describe: 'sweep JSON' })
    .option('html', { type: 'string', describe: 'HTML page with the plots (default <out>.html)' })
    .option('svg', { type: 'string', describe: 'also write each plot as <prefix>.<plot>.svg' })
    .option('json', { type: 'boolean', default: false, describe: 'print the sweep JSON instead of the table' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress or notices' })
    .check((a) => {
      if (!a.task && !a.data) throw new Error('give --task <name> or --data <file.json>');
      if (a.task && a.data) throw new Error('give either --task or --data, not both');
      if (!(Number.isInteger(a.n) && a.n > 0)) throw new Error(`--n must be a positive integer, got ${a.n}`);
      return true;
    }) as unknown as Argv<SweepArgs>,
  handler: async (argv: ArgumentsCamelCase<SweepArgs>) => {
    const backend = await initBackend(argv.backend);
    const task = argv.data ? loadCustomTask(argv.data) : getTask(argv.task!);
    const thresholds = argv.thresholds ? parseNumberList(argv.thresholds, '--thresholds') : undefined;
    const topN = argv.topN ? parseNumberList(argv.topN, '--top-n') : undefined;
    if (topN?.some((k) => !(Number.isInteger(k) && k >= 0))) throw new Error('--top-n: sizes must be non-negative integers');
    const { loaded, name } = await modelForTask(task, argv.model, { config: argv.config, processing: argv.processing, quiet: argv.quiet });
    const pool = await startWorkers(loaded.model, argv.workers, backend, argv.n, { task: argv.task, data: argv.data });
    try {
      const cfg = loaded.model.cfg;
      const reference = referenceOption(argv.reference, task, { modelConfig: { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly } }, argv.quiet);
      const tty = process.stderr.isTTY && !argv.quiet;
      const s = await sweep(loaded.model, task, {
        method: argv.method, thresholds, topN, ablation: argv.ablation, metric: argv.metric, n: argv.n, seed: argv.seed,
        splitEmbed: argv.splitEmbed, speculate: argv.speculate, steps: argv.steps, absValue: argv.absValue, batchSize: argv.batchSize, pool,
        reference, countDirect: argv.countDirect, modelName: name, backend,
        onStep: (d, t, note) => { if (tty) process.stderr.write(`\rsweep ${argv.method}: ${note} (${d + 1}/${t})        `); },
      });
      if (tty) process.stderr.write('\n');
      const html = argv.html ?? `${argv.out.replace(/\.json$/, '')}.html`;
      const written = [argv.out, html];
      for (const p of written) mkdirSync(dirname(resolve(p)), { recursive: true });
      writeFileSync(argv.out, JSON.stringify(s, null, 1) + '\n');
      writeFileSync(html, sweepHtml(s));
      if (argv.svg) {
        mkdirSync(dirname(resolve(argv.svg)), { recursive: true });
        for (const f of sweepFigures(s)) { const p = `${argv.svg}.${f.id}.svg`; writeFileSync(p, f.svg + '\n'); written.push(p); }
      }
      process.stdout.write((argv.json ? JSON.stringify(s, null, 1) : sweepText(s)) + '\n');
      if (!argv.quiet && !argv.json) process.stderr.write(`wrote ${written.join(', ')}\n`);
    } finally {
      pool?.close();
      loaded.model.dispose();
    }
  },
};
