/**
 * `circuitscope evaluate --circuit c.json [--reference <task>|<file>|none]`: faithfulness
 * (F(C)/F(M) and normalised), completeness, minimality, the MIB curve with CPR/CMD (scored
 * circuits) and the ROC against a reference circuit (default: the task's, when it fits the
 * model). Reads circuitscope circuit files and EAP-IG / MIB graph JSON (those need --task and
 * --model). Prints a summary; writes `<circuit>.eval.json` and the circuit report with the
 * evaluation sections to `<circuit>.eval.html`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { AblationKind } from '../../patching/ablation.js';
import { circuitHtml } from '../../report/circuit-html.js';
import { evaluateCircuit, evaluationText, evaluatorFor, type Evaluation } from '../../eval/evaluate.js';
import { evaluationSections } from '../../eval/html.js';
import { loadCircuit, referenceOption, taskAndModel } from '../context.js';
import { startWorkers, workersOption } from '../workers.js';
import { circuitTaskOptions } from '../options.js';

interface EvaluateArgs {
  backend: BackendName;
  circuit: string;
  reference?: string;
  task?: string;
  data?: string;
  model?: string;
  config?: string;
  processing?: string[];
  ablation?: AblationKind;
  n?: number;
  seed?: number;
  samples: number;
  greedySteps: number;
  batchSize?: number;
  workers: string;
  criteria: boolean;
  countDirect: boolean;
  scoreSign: 'auto' | 'higher' | 'lower';
  out?: string;
  html?: string;
  json: boolean;
  quiet: boolean;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: 'evaluate',
  describe: 'Faithfulness, completeness, minimality, CPR/CMD and ROC vs a reference for a circuit file',
  builder: (y: Argv<object>) => y
    .option('circuit', { type: 'string', demandOption: true, describe: 'circuit JSON (circuitscope, or EAP-IG/MIB graph JSON with --task and --model)' })
    .option('reference', { type: 'string', describe: "reference circuit: a task name, a file (circuit / MIB / reference_circuit.json), or 'none' (default: the task's)" })
    .options(circuitTaskOptions("the circuit's"))
    .option('ablation', { choices: ['resample', 'zero', 'mean'] as const, describe: "ablation of edges outside the circuit (default: the circuit's; the IOI paper uses mean)" })
    .option('n', { type: 'number', describe: "number of prompts (default: the circuit's)" })
    .option('seed', { type: 'number', describe: "prompt seed (default: the circuit's; another seed gives held-out prompts)" })
    .option('samples', { type: 'number', default: 16, describe: 'random subsets K for completeness and minimality' })
    .option('greedy-steps', { type: 'number', default: 4, describe: 'greedy completeness search steps' })
    .option('batch-size', { type: 'number', describe: 'run the prompts in chunks of this many rows (bounds memory; same numbers)' })
    .option('workers', workersOption)
    .option('criteria', { type: 'boolean', default: true, describe: 'completeness and minimality (--no-criteria skips them)' })
    .option('count-direct', { type: 'boolean', default: false, describe: "edge ROC with ACDC's q/k/v direct edges counted" })
    .option('score-sign', { choices: ['auto', 'higher', 'lower'] as const, default: 'auto' as const, describe: "which edge scores are important for CPR's signed ranking (auto: by method; EAP/EAP-IG lower, ACDC and imported files higher)" })
    .option('out', { type: 'string', describe: 'evaluation JSON (default <circuit>.eval.json)' })
    .option('html', { type: 'string', describe: 'report with the evaluation (default <circuit>.eval.html)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the evaluation JSON instead of the summary' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no notices' })
    .check((a) => {
      for (const k of ['n', 'samples', 'greedySteps'] as const) {
        const v = a[k];
        if (v !== undefined && !(Number.isInteger(v) && (v as number) >= (k === 'n' ? 1 : 0))) throw new Error(`--${k === 'greedySteps' ? 'greedy-steps' : k} must be a ${k === 'n' ? 'positive' : 'non-negative'} integer, got ${v}`);
      }
      return true;
    }) as unknown as Argv<EvaluateArgs>,
  handler: async (argv: ArgumentsCamelCase<EvaluateArgs>) => {
    const backend = await initBackend(argv.backend);
    const { file, imported } = loadCircuit(argv.circuit, { task: argv.task, model: argv.model, ablation: argv.ablation, n: argv.n, seed: argv.seed });
    const { task, loaded } = await taskAndModel(file, argv, 'evaluate');
    const pool = await startWorkers(loaded.model, argv.workers, backend, argv.n ?? file.n);
    try {
      const cfg = loaded.model.cfg;
      if (imported) file.modelConfig = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly };
      const reference = referenceOption(argv.reference, task, file, argv.quiet || argv.json);
      const ev = await evaluatorFor(loaded.model, task, file, { n: argv.n, seed: argv.seed, ablation: argv.ablation, batchSize: argv.batchSize, pool });
      let e: Evaluation;
      try {
        e = await evaluateCircuit(ev, file, { reference, countDirect: argv.countDirect, criteria: argv.criteria, scoreSign: argv.scoreSign === 'auto' ? undefined : argv.scoreSign === 'higher' ? 1 : -1, samples: argv.samples, greedySteps: argv.greedySteps, source: argv.circuit });
      } finally {
        ev.dispose();
      }
      if (imported && e.faithfulness) {
        const f = e.faithfulness;
        file.metric = f.metric;
        file.results = { ...file.results, metric: f.metric, clean: f.full, corrupted: f.empty, circuit: f.circuit, faithfulness: f.normalised, klCircuit: f.kl };
      }
      const base = argv.circuit.replace(/\.json$/, '');
      const out = argv.out ?? `${base}.eval.json`, html = argv.html ?? `${base}.eval.html`;
      for (const p of [out, html]) mkdirSync(dirname(resolve(p)), { recursive: true });
      writeFileSync(out, JSON.stringify(e, null, 1) + '\n');
      const kept = new Set(file.edges.filter((x) => x.inCircuit).map((x) => `${x.from}->${x.to}`));
      writeFileSync(html, circuitHtml(file, evaluationSections(e, file.modelConfig, kept)));
      process.stdout.write((argv.json ? JSON.stringify(e, null, 1) : evaluationText(e)) + '\n');
      if (!argv.quiet && !argv.json) process.stderr.write(`wrote ${out}, ${html}\n`);
    } finally {
      pool?.close();
      loaded.model.dispose();
    }
  },
};
