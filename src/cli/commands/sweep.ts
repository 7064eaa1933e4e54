/**
 * `circuitscope sweep --task T --method M [--thresholds ...] [--top-n ...]`: discovery over a
 * grid, every circuit measured on the same prompts, ROC points and ACDC's pessimistic AUC
 * against the reference circuit, the faithfulness-vs-edges curve, and MIB's CPR/CMD. Writes
 * the sweep JSON, a self-contained HTML page with the plots, and with --svg one SVG per plot.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { AblationKind } from '../../patching/ablation.js';
import { getTask } from '../../tasks/registry.js';
import { loadCustomTask } from '../../tasks/custom-file.js';
import { sweep, type SweepResult } from '../../eval/sweep.js';
import { ownOptions } from '../../discovery/run.js';
import { sweepFigures, sweepHtml } from '../../eval/html.js';
import { inputPaths, modelForTask, referenceOption } from '../context.js';
import { startWorkers, workersOption } from '../workers.js';
import { ablationOption, batchSizeOption, metricOption, methodCheck, methodOptions, oneTask, promptsOption, quietOption, seedOption, taskOptions, weightOptions } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';
import { Stages } from '../progress.js';
import { fmtNum, fmtThreshold } from '../../util/format.js';

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
  const f = (x: number | null, d = 4) => fmtNum(x, d, 1e-9);
  const L = [`${s.method} sweep on ${s.task} (${s.model}), ${s.ablation} ablation, ${s.n} prompts: ${s.points.length} circuits in ${fmtNum(s.seconds, 3)} s`];
  L.push(`  ${'threshold'.padEnd(10)} ${'top-n'.padEnd(6)} ${'edges'.padEnd(6)} ${'faithful'.padEnd(9)} ${'KL'.padEnd(9)} ${'TPR'.padEnd(6)} FPR`);
  for (const p of s.points) {
    L.push(`  ${(p.threshold === null ? '-' : fmtThreshold(p.threshold)).padEnd(10)} ${(p.topN === null ? '-' : String(p.topN)).padEnd(6)} ${String(p.edges).padEnd(6)} ${f(p.faithfulness).padEnd(9)} ${f(p.kl).padEnd(9)} ${f(p.tpr, 3).padEnd(6)} ${f(p.fpr, 3)}`);
  }
  if (s.auc) L.push(`AUC vs ${s.reference!.name}: edges ${f(s.auc.edge)}, nodes ${f(s.auc.node)} (pessimistic staircase)`);
  else L.push('no reference circuit: no ROC');
  if (s.mib) L.push(`MIB (${s.mib.from}): CPR ${f(s.mib.cpr)}, CMD ${f(s.mib.cmd)}`);
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
  speculate?: number;
  steps?: number;
  candidates?: string;
  absValue?: boolean;
  greedy?: boolean;
  batchSize?: number;
  workers: string;
  out: string;
  html?: string | false;
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
    .options(methodOptions())
    .option('thresholds', { type: 'array', string: true, describe: 'ACDC thresholds or |score| thresholds: 1e-3,1e-2 or log:1e-5:1:11 (ACDC default log:1e-5:1:11)' })
    .option('top-n', { type: 'array', string: true, describe: 'EAP/EAP-IG circuit sizes (default: every size to 64, then a log grid)' })
    .options(metricOption)
    .options(ablationOption('ablation for discovery and evaluation', 'resample'))
    .options(promptsOption('number of prompts', 100))
    .options(seedOption('prompt seed'))
    .option('split-embed', { type: 'boolean', default: false, describe: 'split the input sender into tok and pos' })
    .option('reference', { type: 'string', describe: "reference circuit: task name, file, or 'none' (default: the task's)" })
    .option('count-direct', { type: 'boolean', default: false, describe: "edge ROC with ACDC's q/k/v direct edges" })
    .options(batchSizeOption)
    .option('workers', workersOption)
    .option('out', { type: 'string', default: 'sweep.json', describe: 'sweep JSON' })
    .option('html', { type: 'string', describe: 'HTML page with the plots (default <out>.html; --no-html skips it)' })
    .option('svg', { type: 'string', describe: 'also write each plot as <prefix>.<plot>.svg' })
    .option('json', { type: 'boolean', default: false, describe: 'print the sweep JSON instead of the table' })
    .options(quietOption)
    .check(oneTask)
    .check((a) => {
      if (a.greedy) throw new Error('--greedy does not apply to sweep (it ranks edges by score for every size)');
      return methodCheck(a);
    }) as unknown as Argv<SweepArgs>,
  handler: async (argv: ArgumentsCamelCase<SweepArgs>) => {
    const thresholds = argv.thresholds ? parseNumberList(argv.thresholds, '--thresholds') : undefined;
    const topN = argv.topN ? parseNumberList(argv.topN, '--top-n') : undefined;
    if (topN?.some((k) => !(Number.isInteger(k) && k >= 0))) throw new Error('--top-n: sizes must be non-negative integers');
    if (thresholds?.some((t) => t < 0)) throw new Error('--thresholds: thresholds must be >= 0');
    const html = argv.html === false ? null : argv.html || `${argv.out.replace(/\.json$/, '')}.html`;
    checkOutputs('sweep', [
      { flag: '--out', path: argv.out }, ...(html ? [{ flag: argv.html ? '--html' : '', path: html }] : []),
      ...(argv.svg ? [{ flag: '--svg', path: `${argv.svg}.roc.svg` }] : []),
    ], inputPaths(argv));
    const stages = new Stages('sweep', argv.quiet);
    const { backend, task, loaded, name } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      const task = argv.data ? loadCustomTask(argv.data) : getTask(argv.task!);
      return { backend, task, ...(await modelForTask(task, argv.model, { config: argv.config, processing: argv.processing, quiet: argv.quiet })) };
    });
    let pool: Awaited<ReturnType<typeof startWorkers>>;
    try {
      pool = await stages.run('workers', () => startWorkers(loaded.model, argv.workers, backend, argv.n, { task: argv.task, data: argv.data }));
    } catch (e) { loaded.model.dispose(); throw e; }
    try {
      const cfg = loaded.model.cfg;
      const reference = referenceOption(argv.reference, task, { modelConfig: { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly } }, argv.quiet);
      stages.start(`${argv.method} sweep`);
      const s = await sweep(loaded.model, task, {
        method: argv.method, thresholds, topN, ablation: argv.ablation, metric: argv.metric, n: argv.n, seed: argv.seed,
        ...ownOptions(argv), splitEmbed: argv.splitEmbed, batchSize: argv.batchSize, pool,
        reference, countDirect: argv.countDirect, modelName: name, backend,
        onStep: (d, t, note) => stages.progress(d, t, note),
      });
      stages.end();
      const json = JSON.stringify(s, null, 1) + '\n';
      const files = [{ path: argv.out, text: json }, ...(html ? [{ path: html, text: sweepHtml(s) }] : [])];
      if (argv.svg) for (const f of sweepFigures(s)) files.push({ path: `${argv.svg}.${f.id}.svg`, text: f.svg + '\n' });
      const written = writeOutputs(files);
      process.stdout.write(argv.json ? json : `${sweepText(s)}\n${stages.summary()}\n`);
      reportWritten(written, argv.quiet);
    } finally {
      pool?.close();
      loaded.model.dispose();
    }
  },
};
