/**
 * `circuitscope discover`: find a circuit for a task (or a custom JSON task) with ACDC, EAP or
 * EAP-IG; write the circuit JSON, a Graphviz DOT file and a self-contained HTML report, and
 * print the kept edges grouped by receiver with the metric numbers. ACDC checkpoints after
 * every receiver to `<out>.checkpoint.json`; `--resume` continues from it.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { discover } from '../../discovery/run.js';
import { methodNames } from '../../discovery/registry.js';
import { toDot, toMib, type CircuitFile } from '../../graph/circuit-file.js';
import { circuitHtml } from '../../report/circuit-html.js';
import { getTask } from '../../tasks/registry.js';
import { loadCustomTask } from '../../tasks/custom.js';
import { progressBar } from '../progress.js';
import { reportSections } from '../../eval/report.js';
import { taskWithCorruption } from '../../tasks/ioi/corruption.js';
import { startWorkers, workersOption } from '../workers.js';
import { taskOptions, weightOptions } from '../options.js';
import { fileCheckpoint, modelForTask } from '../context.js';

interface DiscoverArgs {
  backend: BackendName;
  task?: string;
  data?: string;
  model?: string;
  config?: string;
  method: string;
  threshold?: number;
  topN?: number;
  greedy: boolean;
  absValue: boolean;
  metric?: 'kl' | 'task';
  ablation: 'resample' | 'zero' | 'mean';
  n: number;
  seed: number;
  out: string;
  splitEmbed: boolean;
  speculate?: number;
  steps: number;
  resume: boolean;
  quiet: boolean;
  processing?: string[];
  mib?: string;
  html: boolean;
  evaluation: boolean;
  batchSize?: number;
  corrupt?: string;
  workers: string;
}

export function summary(file: CircuitFile): string {
  const r = file.results;
  const lines: string[] = [];
  lines.push(`${file.method} on ${file.model}, task ${file.task}: ${r.edgesKept} of ${r.edgesTotal} edges kept (${file.metric}, ${file.ablation} ablation, n=${file.n}, ${r.seconds.toFixed(1)} s)`);
  const byReceiver = new Map<string, string[]>();
  for (const e of file.edges) if (e.inCircuit) { if (!byReceiver.has(e.to)) byReceiver.set(e.to, []); byReceiver.get(e.to)!.push(e.from); }
  for (const [rcv, ss] of byReceiver) lines.push(`  ${rcv.padEnd(14)} <- ${ss.join(', ')}`);
  const f = (x: number | null) => (x === null ? 'n/a' : x.toFixed(4));
  lines.push(`metric ${r.metric}: clean ${f(r.clean)}, corrupted ${f(r.corrupted)}, circuit ${f(r.circuit)}; faithfulness ${f(r.faithfulness)}; KL(clean||circuit) ${f(r.klCircuit)}`);
  return lines.join('\n');
}

export function writeOutputs(file: CircuitFile, out: string, opts: { html: boolean; mib?: string; sections?: string[] }): string[] {
  const base = out.replace(/\.json$/, '');
  mkdirSync(dirname(resolve(out)), { recursive: true });
  const written = [out];
  writeFileSync(out, JSON.stringify(file, null, 1) + '\n');
  writeFileSync(`${base}.dot`, toDot(file)); written.push(`${base}.dot`);
  if (opts.html) { writeFileSync(`${base}.html`, circuitHtml(file, opts.sections)); written.push(`${base}.html`); }
  if (opts.mib) { writeFileSync(opts.mib, JSON.stringify(toMib(file)) + '\n'); written.push(opts.mib); }
  return written;
}

export const discoverCommand: CommandModule<object, DiscoverArgs> = {
  command: 'discover',
  describe: 'Find a circuit for a task with ACDC, EAP or EAP-IG; write JSON, DOT and HTML',
  builder: (y: Argv<object>) => y
    .options(taskOptions)
    .option('model', { type: 'string', describe: 'model: preset, directory, file, HF name or shipped model (default: the task\'s)' })
    .option('method', { choices: methodNames(), default: 'acdc', describe: 'discovery method' })
    .option('threshold', { type: 'number', describe: 'ACDC threshold, or a |score| threshold for EAP/EAP-IG' })
    .option('top-n', { type: 'number', describe: 'keep the n best-scoring edges (EAP/EAP-IG)' })
    .option('greedy', { type: 'boolean', default: false, describe: 'grow the circuit greedily from the logits (with --top-n)' })
    .option('abs-value', { type: 'boolean', default: false, describe: 'ACDC: compare |metric change| with the threshold' })
    .option('metric', { choices: ['kl', 'task'] as const, describe: 'objective: KL(clean||patched) or the task metric (default: kl for ACDC, task for EAP)' })
    .option('ablation', { choices: ['resample', 'zero', 'mean'] as const, default: 'resample' as const, describe: 'what replaces edges outside the circuit' })
    .option('n', { type: 'number', default: 100, describe: 'number of prompts' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the task\'s prompt generator' })
    .option('out', { type: 'string', default: 'circuit.json', describe: 'output circuit JSON (DOT and HTML beside it)' })
    .option('split-embed', { type: 'boolean', default: false, describe: 'split the input sender into tok and pos' })
    .option('speculate', { type: 'number', describe: 'ACDC: removals evaluated per batched forward (same result; default 8 on webgpu, else 1); >1 pays off when per-op overhead dominates (few prompts, GPU), not on CPU with many prompts' })
    .option('steps', { type: 'number', default: 5, describe: 'EAP-IG interpolation steps' })
    .option('resume', { type: 'boolean', default: false, describe: 'ACDC: continue from <out>.checkpoint.json' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar or notices' })
    .options(weightOptions)
    .option('mib', { type: 'string', describe: 'also export the circuit as EAP-IG/MIB graph JSON to this file' })
    .option('html', { type: 'boolean', default: true, describe: 'write the HTML report' })
    .option('evaluation', { type: 'boolean', default: true, describe: 'HTML report: evaluation section (faithfulness vs size, ROC vs the reference); --no-evaluation skips it' })
    .option('corrupt', { type: 'string', describe: 'corrupted distribution: abc (the task\'s own) or an IOI flip, "flip:ABB->BAB" or flip:BAB (also CDD, BAA, DCD, ABA, ABB)' })
    .option('batch-size', { type: 'number', describe: 'run the prompts in chunks of this many rows (bounds memory; same circuit)' })
    .option('workers', workersOption)
    .check((a) => {
      if (!a.task && !a.data) throw new Error('give --task <name> or --data <file.json>');
      if (a.task && a.data) throw new Error('give either --task or --data, not both');
      if (!(Number.isInteger(a.n) && a.n > 0)) throw new Error(`--n must be a positive integer, got ${a.n}`);
      if (a.threshold !== undefined && !Number.isFinite(a.threshold)) throw new Error('--threshold must be a number');
      return true;
    }) as unknown as Argv<DiscoverArgs>,
  handler: async (argv: ArgumentsCamelCase<DiscoverArgs>) => {
    const backend = await initBackend(argv.backend);
    const task = taskWithCorruption(argv.data ? loadCustomTask(argv.data) : getTask(argv.task!), argv.corrupt);
    const { loaded, name } = await modelForTask(task, argv.model, { config: argv.config, processing: argv.processing, quiet: argv.quiet });
    const checkpoint = `${argv.out.replace(/\.json$/, '')}.checkpoint.json`;
    mkdirSync(dirname(resolve(argv.out)), { recursive: true }); // the checkpoint is written before the outputs
    if (argv.resume && !existsSync(checkpoint)) throw new Error(`--resume: no checkpoint at ${checkpoint}`);
    const bar = progressBar(argv.method, argv.quiet);
    const pool = await startWorkers(loaded.model, argv.workers, backend, argv.n, { task: argv.task, data: argv.data, corrupt: argv.corrupt });
    try {
      const { file, evaluator } = await discover(loaded.model, task, {
        method: argv.method, threshold: argv.threshold, topN: argv.topN, greedy: argv.greedy,
        absValue: argv.absValue, metric: argv.metric, ablation: argv.ablation, n: argv.n, seed: argv.seed,
        splitEmbed: argv.splitEmbed, speculate: argv.speculate ?? (backend === 'webgpu' ? 8 : 1), steps: argv.steps, batchSize: argv.batchSize,
        checkpoint: fileCheckpoint(checkpoint), resume: argv.resume,
        modelName: name, backend, onProgress: bar.update, pool,
      });
      let sections: string[] = [];
      try {
        bar.done();
        if (argv.html && argv.evaluation) sections = (await reportSections(loaded.model, task, file, { evaluator })).sections;
      } finally {
        evaluator.dispose();
      }
      const written = writeOutputs(file, argv.out, { html: argv.html, mib: argv.mib, sections });
      if (existsSync(checkpoint)) rmSync(checkpoint);
      process.stdout.write(summary(file) + '\n');
      if (!argv.quiet) process.stderr.write(`wrote ${written.join(', ')}\n`);
    } finally {
      pool?.close();
      loaded.model.dispose();
    }
  },
};
