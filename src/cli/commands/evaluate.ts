/**
 * `circuitscope evaluate --circuit c.json [--reference <task>|<file>|none]`: faithfulness
 * (F(C)/F(M) and normalised), completeness, minimality, the MIB curve with CPR/CMD (scored
 * circuits) and the ROC against a reference circuit (default: the task's, when it fits the
 * model). Reads circuitscope circuit files and EAP-IG / MIB graph JSON (those need --task and
 * --model). Prints a summary; writes `<circuit>.eval.json` and the circuit report with the
 * evaluation sections to `<circuit>.eval.html`.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { AblationKind } from '../../patching/ablation.js';
import { circuitHtml } from '../../report/circuit-html.js';
import { evaluateCircuit, evaluationText, evaluatorFor, type Evaluation } from '../../eval/evaluate.js';
import { evaluationSections } from '../../eval/html.js';
import { inputPaths, loadCircuit, referenceOption, taskAndModel } from '../context.js';
import { startWorkers, workersOption } from '../workers.js';
import { ablationOption, batchSizeOption, circuitTaskOptions, numberOption, promptsOption, quietOption, seedOption } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';
import { Stages } from '../progress.js';

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
  html?: string | false;
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
    .options(ablationOption("ablation of edges outside the circuit (default: the circuit's; the IOI paper uses mean)"))
    .options(promptsOption("number of prompts (default: the circuit's)"))
    .options(seedOption("prompt seed (default: the circuit's; another seed gives held-out prompts)", null))
    .option('samples', numberOption('samples', 'random subsets K for completeness and minimality', { int: true, min: 0 }, { default: 16 }))
    .option('greedy-steps', numberOption('greedy-steps', 'greedy completeness search steps', { int: true, min: 0 }, { default: 4 }))
    .options(batchSizeOption)
    .option('workers', workersOption)
    .option('criteria', { type: 'boolean', default: true, describe: 'completeness and minimality (--no-criteria skips them)' })
    .option('count-direct', { type: 'boolean', default: false, describe: "edge ROC with ACDC's q/k/v direct edges counted" })
    .option('score-sign', { choices: ['auto', 'higher', 'lower'] as const, default: 'auto' as const, describe: "which edge scores are important for CPR's signed ranking (auto: by method; EAP/EAP-IG lower, ACDC and imported files higher)" })
    .option('out', { type: 'string', describe: 'evaluation JSON (default <circuit>.eval.json)' })
    .option('html', { type: 'string', describe: 'report with the evaluation (default <circuit>.eval.html; --no-html skips it)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the evaluation JSON instead of the summary' })
    .options(quietOption) as unknown as Argv<EvaluateArgs>,
  handler: async (argv: ArgumentsCamelCase<EvaluateArgs>) => {
    const base = argv.circuit.replace(/\.json$/, '');
    const out = argv.out ?? `${base}.eval.json`, html = argv.html === false ? null : argv.html || `${base}.eval.html`;
    checkOutputs('evaluate', [{ flag: argv.out ? '--out' : '', path: out }, ...(html ? [{ flag: argv.html ? '--html' : '', path: html }] : [])], inputPaths(argv));
    const stages = new Stages('evaluate', argv.quiet);
    const { backend, file, imported, task, loaded } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      const { file, imported } = loadCircuit(argv.circuit, { task: argv.task, model: argv.model, ablation: argv.ablation, n: argv.n, seed: argv.seed });
      return { backend, file, imported, ...(await taskAndModel(file, argv, 'evaluate')) };
    });
    let pool: Awaited<ReturnType<typeof startWorkers>>;
    try {
      pool = await stages.run('workers', () => startWorkers(loaded.model, argv.workers, backend, argv.n ?? file.n));
    } catch (e) { loaded.model.dispose(); throw e; }
    try {
      const cfg = loaded.model.cfg;
      if (imported) file.modelConfig = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly };
      const reference = referenceOption(argv.reference, task, file, argv.quiet || argv.json);
      stages.start('setup');
      const ev = await evaluatorFor(loaded.model, task, file, { n: argv.n, seed: argv.seed, ablation: argv.ablation, batchSize: argv.batchSize, pool });
      let e: Evaluation;
      try {
        e = await evaluateCircuit(ev, file, {
          reference, countDirect: argv.countDirect, criteria: argv.criteria, scoreSign: argv.scoreSign === 'auto' ? undefined : argv.scoreSign === 'higher' ? 1 : -1,
          samples: argv.samples, greedySteps: argv.greedySteps, source: argv.circuit, onStage: (s) => stages.start(s),
        });
      } finally {
        ev.dispose();
      }
      stages.end();
      if (imported && e.faithfulness) {
        const f = e.faithfulness;
        file.metric = f.metric;
        file.results = { ...file.results, metric: f.metric, clean: f.full, corrupted: f.empty, circuit: f.circuit, faithfulness: f.normalised, klCircuit: f.kl };
      }
      const kept = new Set(file.edges.filter((x) => x.inCircuit).map((x) => `${x.from}->${x.to}`));
      const json = JSON.stringify(e, null, 1) + '\n';
      const written = writeOutputs([{ path: out, text: json }, ...(html ? [{ path: html, text: circuitHtml(file, evaluationSections(e, file.modelConfig, kept)) }] : [])]);
      process.stdout.write(argv.json ? json : `${evaluationText(e)}\n${stages.summary()}\n`);
      reportWritten(written, argv.quiet);
    } finally {
      pool?.close();
      loaded.model.dispose();
    }
  },
};
