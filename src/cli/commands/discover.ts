/**
 * `circuitscope discover`: find a circuit for a task (or a custom JSON task) with ACDC, EAP or
 * EAP-IG; write the circuit JSON, a Graphviz DOT file and a self-contained HTML report, and
 * print the kept edges grouped by receiver with the metric numbers. ACDC checkpoints after
 * every receiver to `<out>.checkpoint.json`; `--resume` continues from it.
 */
import { existsSync, rmSync } from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initBackend, type BackendName } from '../../model/backend.js';
import { discover, ownOptions } from '../../discovery/run.js';
import { getMethod } from '../../discovery/registry.js';
import { toDot, toMib, type CircuitFile } from '../../graph/circuit-file.js';
import { circuitHtml } from '../../report/circuit-html.js';
import { getTask } from '../../tasks/registry.js';
import { loadCustomTask } from '../../tasks/custom-file.js';
import { fmtNum, fmtThreshold } from '../../util/format.js';
import { Stages } from '../progress.js';
import { reportSections } from '../../eval/report.js';
import { taskWithCorruption } from '../../tasks/ioi/corruption.js';
import { startWorkers, workersOption } from '../workers.js';
import {
  ablationOption, batchSizeOption, metricOption, methodCheck, methodOptions, oneTask, promptsOption, quietOption,
  renamed, seedOption, selectionOptions, taskOptions, weightOptions,
} from '../options.js';
import { fileCheckpoint, inputPaths, modelForTask } from '../context.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';

interface DiscoverArgs {
  backend: BackendName;
  task?: string;
  data?: string;
  model?: string;
  config?: string;
  method: string;
  threshold?: number;
  topN?: number;
  greedy?: boolean;
  absValue?: boolean;
  metric?: 'kl' | 'task';
  ablation: 'resample' | 'zero' | 'mean';
  n: number;
  seed: number;
  out: string;
  splitEmbed: boolean;
  speculate?: number;
  steps?: number;
  candidates?: string;
  resume: boolean;
  quiet: boolean;
  processing?: string[];
  mib?: string;
  html?: string | false;
  evaluate: boolean;
  json: boolean;
  batchSize?: number;
  corrupt?: string;
  workers: string;
}

export function summary(file: CircuitFile): string {
  const r = file.results;
  const lines: string[] = [];
  lines.push(`${file.method} on ${file.model}, task ${file.task}: ${r.edgesKept} of ${r.edgesTotal} edges kept (${selectionText(file)}; ${file.metric}, ${file.ablation} ablation, n=${file.n})`);
  const byReceiver = new Map<string, string[]>();
  for (const e of file.edges) if (e.inCircuit) { if (!byReceiver.has(e.to)) byReceiver.set(e.to, []); byReceiver.get(e.to)!.push(e.from); }
  for (const [rcv, ss] of byReceiver) lines.push(`  ${rcv.padEnd(14)} <- ${ss.join(', ')}`);
  const f = (x: number | null) => fmtNum(x, 4, 1e-9);
  lines.push(`metric ${r.metric}: clean ${f(r.clean)}, corrupted ${f(r.corrupted)}, circuit ${f(r.circuit)}; faithfulness ${f(r.faithfulness)}; KL(clean||circuit) ${f(r.klCircuit)}`);
  return lines.join('\n');
}

/**
 * How the circuit was picked, and what pruning took away: "top-n 40", "top-n 10: the 10 best
 * alone do not all lie on input-to-logits paths; the best 37 by score give a connected circuit
 * of 12", "threshold 0.01; 17 dangling edges pruned (not on an input-to-logits path)".
 */
export function selectionText(file: CircuitFile): string {
  const p = file.results.danglingPruned ?? 0;
  const s = file.results.selection;
  if (s && file.topN !== null && !file.greedy) {
    const e = (n: number) => `${n} edge${n === 1 ? '' : 's'}`;
    const why = s.asked === 0 ? 'an empty circuit, as asked'
      : s.kept === 0 ? 'EMPTY circuit: no scored edges form a path from input to logits'
      : s.kept < s.asked ? `only ${e(s.kept)} of the ranking lie on input-to-logits paths (all kept; the best ${s.taken} by score contain them)`
      : s.taken > s.asked ? `the ${s.asked} best alone do not all lie on input-to-logits paths; the best ${s.taken} by score give a connected circuit of ${s.kept}`
      : '';
    return `top-n ${s.asked}${why ? `: ${why}` : ''}`;
  }
  const how = file.topN !== null ? `${file.greedy ? 'greedy ' : ''}top-n ${file.topN}` : file.threshold !== null ? `threshold ${fmtThreshold(file.threshold)}` : file.method === 'imported' ? 'imported' : 'default selection';
  const pruned = p ? `; ${p} dangling edge${p === 1 ? '' : 's'} pruned (not on an input-to-logits path)` : '';
  return `${how}${pruned}${file.results.edgesKept === 0 && file.topN !== 0 ? `: ${emptyWhy(file)}` : ''}`;
}

/** Why a selection that was not asked to be empty came back empty, and what to change. */
function emptyWhy(file: CircuitFile): string {
  const cand = file.results.candidates;
  if (file.method === 'acdc') {
    return `EMPTY circuit: removing any remaining edge raised the KL by less than the threshold, so ACDC removed them all; lower --threshold${cand ? ` or raise K in --candidates (it was ${cand.method}:${cand.k})` : ''}`;
  }
  return file.threshold !== null ? 'EMPTY circuit: no edges on an input-to-logits path score above the threshold; lower --threshold or use --top-n' : 'EMPTY circuit';
}

/** The files discover writes: the circuit JSON, DOT beside it, the HTML report and the MIB export when asked. */
function outputPaths(out: string, o: { html?: string | false; mib?: string }): { json: string; dot: string; html: string | null; mib: string | null; checkpoint: string } {
  const base = out.replace(/\.json$/, '');
  return { json: out, dot: `${base}.dot`, html: o.html === false ? null : o.html || `${base}.html`, mib: o.mib ?? null, checkpoint: `${base}.checkpoint.json` };
}

/** The command line that resumes this run: the same arguments plus --resume. */
function resumeCommand(): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
  const args = hideBin(process.argv);
  return `circuitscope ${args.map(q).join(' ')}${args.includes('--resume') ? '' : ' --resume'}`;
}

export const discoverCommand: CommandModule<object, DiscoverArgs> = {
  command: 'discover',
  describe: 'Find a circuit for a task with ACDC, EAP or EAP-IG; write JSON, DOT and HTML',
  builder: (y: Argv<object>) => renamed(y
    .options(taskOptions)
    .option('model', { type: 'string', describe: 'model: preset, directory, file, HF name or shipped model (default: the task\'s)' })
    .options(methodOptions())
    .options(selectionOptions)
    .options(metricOption)
    .options(ablationOption('what replaces edges outside the circuit', 'resample'))
    .options(promptsOption('number of prompts', 100))
    .options(seedOption())
    .option('out', { type: 'string', default: 'circuit.json', describe: 'output circuit JSON (DOT beside it)' })
    .option('html', { type: 'string', describe: 'the HTML report (default <out>.html; --no-html skips it)' })
    .option('mib', { type: 'string', describe: 'also export the circuit as EAP-IG/MIB graph JSON to this file' })
    .option('json', { type: 'boolean', default: false, describe: 'print the circuit JSON on stdout instead of the summary' })
    .option('evaluate', { type: 'boolean', default: true, describe: 'HTML report: evaluation section (faithfulness vs size, ROC vs the reference); --no-evaluate skips it' })
    .option('split-embed', { type: 'boolean', default: false, describe: 'split the input sender into tok and pos' })
    .option('resume', { type: 'boolean', default: false, describe: 'ACDC: continue from <out>.checkpoint.json' })
    .options(quietOption)
    .options(weightOptions)
    .option('corrupt', { type: 'string', describe: 'corrupted distribution: abc (the task\'s own) or an IOI flip, "flip:ABB->BAB" or flip:BAB (also CDD, BAA, DCD, ABA, ABB)' })
    .options(batchSizeOption)
    .option('workers', workersOption)
    .check(oneTask)
    .check(methodCheck)
    .check((a) => {
      if (a.resume && !getMethod(a.method as string).checkpoints) throw new Error(`--resume: --method ${a.method} keeps no checkpoint (it runs in one go)`);
      return true;
    }), { evaluation: '--evaluate / --no-evaluate' }) as unknown as Argv<DiscoverArgs>,
  handler: async (argv: ArgumentsCamelCase<DiscoverArgs>) => {
    const paths = outputPaths(argv.out, argv);
    const method = getMethod(argv.method);
    checkOutputs('discover', [
      { flag: '--out', path: paths.json }, { flag: '', path: paths.dot },
      ...(paths.html ? [{ flag: argv.html ? '--html' : '', path: paths.html }] : []),
      ...(paths.mib ? [{ flag: '--mib', path: paths.mib }] : []),
      ...(method.checkpoints ? [{ flag: '', path: paths.checkpoint }] : []),
    ], inputPaths(argv));
    if (argv.resume && !existsSync(paths.checkpoint)) throw new Error(`--resume: no checkpoint at ${paths.checkpoint}`);
    const quiet = argv.quiet;
    const stages = new Stages('discover', quiet);
    const { backend, task, loaded, name } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      const task = taskWithCorruption(argv.data ? loadCustomTask(argv.data) : getTask(argv.task!), argv.corrupt);
      return { backend, task, ...(await modelForTask(task, argv.model, { config: argv.config, processing: argv.processing, quiet })) };
    });
    const onInterrupt = () => {
      const saved = method.checkpoints && existsSync(paths.checkpoint);
      process.stderr.write(`\ninterrupted: ${saved ? `${argv.method}'s progress is saved in ${paths.checkpoint}; continue with\n  ${resumeCommand()}` : 'nothing was saved (no checkpoint yet)'}\n`);
      process.exit(130);
    };
    process.once('SIGINT', onInterrupt);
    let pool: Awaited<ReturnType<typeof startWorkers>>;
    try {
      pool = await stages.run('workers', () => startWorkers(loaded.model, argv.workers, backend, argv.n, { task: argv.task, data: argv.data, corrupt: argv.corrupt }));
    } catch (e) { loaded.model.dispose(); throw e; }
    try {
      const { file, evaluator } = await discover(loaded.model, task, {
        method: argv.method, threshold: argv.threshold, topN: argv.topN, greedy: argv.greedy,
        ...ownOptions(argv), metric: argv.metric, ablation: argv.ablation, n: argv.n, seed: argv.seed,
        splitEmbed: argv.splitEmbed, batchSize: argv.batchSize,
        checkpoint: fileCheckpoint(paths.checkpoint), resume: argv.resume,
        modelName: name, backend, onProgress: stages.onProgress, onStage: (s) => stages.start(s === 'method' ? argv.method : s), pool,
      });
      let sections: string[] = [];
      try {
        if (paths.html && argv.evaluate) {
          stages.start('report');
          sections = (await reportSections(loaded.model, task, file, { evaluator })).sections;
        }
      } finally {
        evaluator.dispose();
      }
      stages.end();
      file.results.wall = stages.seconds();
      const files = [
        { path: paths.json, text: JSON.stringify(file, null, 1) + '\n' },
        { path: paths.dot, text: toDot(file) },
        ...(paths.html ? [{ path: paths.html, text: circuitHtml(file, sections) }] : []),
        ...(paths.mib ? [{ path: paths.mib, text: JSON.stringify(toMib(file)) + '\n' }] : []),
      ];
      const written = writeOutputs(files);
      if (existsSync(paths.checkpoint)) rmSync(paths.checkpoint);
      process.stdout.write(argv.json ? files[0].text : `${summary(file)}\n${stages.summary()}\n`);
      reportWritten(written, quiet);
    } finally {
      process.removeListener('SIGINT', onInterrupt);
      pool?.close();
      loaded.model.dispose();
    }
  },
};
