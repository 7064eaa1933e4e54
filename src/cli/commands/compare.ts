/**
 * `circuitscope compare a.json b.json`: shared and differing edges and nodes of two circuits
 * (circuitscope files or EAP-IG / MIB graph JSON), both files' metric sets side by side, and
 * with --evaluate both circuits measured again on the same prompts (faithfulness, CPR/CMD, ROC
 * against the task's reference; --criteria adds completeness and minimality). Prints a text
 * report or --json; --html writes a page with the overlay of both circuits.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { AblationKind } from '../../patching/ablation.js';
import { compareCircuits, comparisonText, type CircuitSource } from '../../eval/compare.js';
import { evaluateCircuit, evaluatorFor, type Evaluation } from '../../eval/evaluate.js';
import { comparisonHtml } from '../../eval/html.js';
import { fileEdges } from '../../eval/reference.js';
import { inputPaths, loadCircuit, referenceOption, taskAndModel, type LoadedCircuit } from '../context.js';
import { ablationOption, batchSizeOption, circuitTaskOptions, promptsOption, quietOption, seedOption } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';
import { Stages } from '../progress.js';

interface CompareArgs {
  backend: BackendName;
  a: string;
  b: string;
  json: boolean;
  out?: string;
  html?: string;
  evaluate: boolean;
  criteria: boolean;
  task?: string;
  data?: string;
  model?: string;
  config?: string;
  processing?: string[];
  reference?: string;
  ablation?: AblationKind;
  n?: number;
  seed?: number;
  batchSize?: number;
  quiet: boolean;
}

export const compareCommand: CommandModule<object, CompareArgs> = {
  command: 'compare <a> <b>',
  describe: 'Shared and differing edges of two circuits, and both metric sets',
  builder: (y: Argv<object>) => y
    .positional('a', { type: 'string', demandOption: true, describe: 'circuit JSON A' })
    .positional('b', { type: 'string', demandOption: true, describe: 'circuit JSON B' })
    .option('json', { type: 'boolean', default: false, describe: 'print the comparison JSON' })
    .option('out', { type: 'string', describe: 'also write the comparison JSON here' })
    .option('html', { type: 'string', describe: 'write an HTML page with both circuits overlaid' })
    .option('evaluate', { type: 'boolean', default: false, describe: 'measure both circuits again on the same prompts (needs the model)' })
    .option('criteria', { type: 'boolean', default: false, describe: 'with --evaluate: completeness and minimality too' })
    .options(circuitTaskOptions("A's", 'for --evaluate'))
    .option('reference', { type: 'string', describe: "with --evaluate: reference circuit (task, file or 'none'; default the task's)" })
    .options(ablationOption("with --evaluate: ablation (default: A's)"))
    .options(promptsOption("with --evaluate: prompts (default: A's)"))
    .options(seedOption("with --evaluate: prompt seed (default: A's)", null))
    .options(batchSizeOption)
    .options(quietOption) as unknown as Argv<CompareArgs>,
  handler: async (argv: ArgumentsCamelCase<CompareArgs>) => {
    checkOutputs('compare', [...(argv.out ? [{ flag: '--out', path: argv.out }] : []), ...(argv.html ? [{ flag: '--html', path: argv.html }] : [])], inputPaths(argv));
    const stages = new Stages('compare', argv.quiet);
    const lc = (p: string) => loadCircuit(p, { task: argv.task, model: argv.model, ablation: argv.ablation, n: argv.n, seed: argv.seed });
    const A = lc(argv.a), B = lc(argv.b);
    const source = (c: LoadedCircuit, evaluation?: Evaluation | null): CircuitSource => ({
      name: c.path, file: c.imported ? null : c.file, edges: fileEdges(c.file).kept, splitEmbed: c.file.splitEmbed, ...(evaluation !== undefined ? { evaluation } : {}),
    });
    let evals: [Evaluation, Evaluation] | null = null;
    if (argv.evaluate) {
      const { task, loaded } = await stages.run('load model', async () => {
        await initBackend(argv.backend);
        return taskAndModel(A.file, argv, 'compare');
      });
      try {
        const cfg = loaded.model.cfg;
        for (const c of [A, B]) if (c.imported) c.file.modelConfig = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly };
        const reference = referenceOption(argv.reference, task, A.file, argv.quiet || argv.json);
        const run = async (c: LoadedCircuit, which: string) => {
          // both on A's prompts and ablation (unless overridden), each on its own embedding split
          stages.start(`${which}: setup`);
          const ev = await evaluatorFor(loaded.model, task, { ...A.file, splitEmbed: c.file.splitEmbed }, { n: argv.n, seed: argv.seed, ablation: argv.ablation, batchSize: argv.batchSize });
          try {
            return await evaluateCircuit(ev, c.file, { reference, criteria: argv.criteria, source: c.path, onStage: (s) => stages.start(`${which}: ${s}`) });
          } finally { ev.dispose(); stages.end(); }
        };
        evals = [await run(A, 'A'), await run(B, 'B')];
      } finally {
        loaded.model.dispose();
      }
    }
    const c = compareCircuits(source(A, evals?.[0]), source(B, evals?.[1]));
    const json = JSON.stringify(c, null, 1) + '\n';
    const m = A.file.modelConfig;
    const written = writeOutputs([...(argv.out ? [{ path: argv.out, text: json }] : []), ...(argv.html ? [{ path: argv.html, text: comparisonHtml(c, m.nLayers ? m : null) }] : [])]);
    // the warnings are in the text; with --json they would be buried in it, so they go to stderr too
    if (argv.json && !argv.quiet) for (const w of c.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(argv.json ? json : `${comparisonText(c)}${argv.evaluate ? `\n${stages.summary()}` : ''}\n`);
    reportWritten(written, argv.quiet);
  },
};
