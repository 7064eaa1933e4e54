/**
 * `circuitscope compare a.json b.json`: shared and differing edges and nodes of two circuits
 * (circuitscope files or EAP-IG / MIB graph JSON), both files' metric sets side by side, and
 * with --evaluate both circuits measured again on the same prompts (faithfulness, CPR/CMD, ROC
 * against the task's reference; --criteria adds completeness and minimality). Prints a text
 * report or --json; --html writes a page with the overlay of both circuits.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import type { AblationKind } from '../../patching/ablation.js';
import { compareCircuits, comparisonText, type CircuitSource } from '../../eval/compare.js';
import { evaluateCircuit, evaluatorFor, type Evaluation } from '../../eval/evaluate.js';
import { comparisonHtml } from '../../eval/html.js';
import { fileEdges } from '../../eval/reference.js';
import { loadCircuit, referenceOption, taskAndModel, type LoadedCircuit } from '../context.js';
import { circuitTaskOptions } from '../options.js';

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
    .option('ablation', { choices: ['resample', 'zero', 'mean'] as const, describe: "with --evaluate: ablation (default: A's)" })
    .option('n', { type: 'number', describe: "with --evaluate: prompts (default: A's)" })
    .option('seed', { type: 'number', describe: "with --evaluate: prompt seed (default: A's)" })
    .option('quiet', { type: 'boolean', default: false, describe: 'no notices' }) as unknown as Argv<CompareArgs>,
  handler: async (argv: ArgumentsCamelCase<CompareArgs>) => {
    const lc = (p: string) => loadCircuit(p, { task: argv.task, model: argv.model, ablation: argv.ablation, n: argv.n, seed: argv.seed });
    const A = lc(argv.a), B = lc(argv.b);
    const source = (c: LoadedCircuit, evaluation?: Evaluation | null): CircuitSource => ({
      name: c.path, file: c.imported ? null : c.file, edges: fileEdges(c.file).kept, splitEmbed: c.file.splitEmbed, ...(evaluation !== undefined ? { evaluation } : {}),
    });
    let evals: [Evaluation, Evaluation] | null = null;
    if (argv.evaluate) {
      await initBackend(argv.backend);
      const { task, loaded } = await taskAndModel(A.file, argv, 'compare');
      try {
        const cfg = loaded.model.cfg;
        for (const c of [A, B]) if (c.imported) c.file.modelConfig = { nLayers: cfg.nLayers, nHeads: cfg.nHeads, dModel: cfg.dModel, attnOnly: cfg.attnOnly };
        const reference = referenceOption(argv.reference, task, A.file, argv.quiet || argv.json);
        const run = async (c: LoadedCircuit) => {
          // both on A's prompts and ablation (unless overridden), each on its own embedding split
          const ev = await evaluatorFor(loaded.model, task, { ...A.file, splitEmbed: c.file.splitEmbed }, { n: argv.n, seed: argv.seed, ablation: argv.ablation });
          try { return await evaluateCircuit(ev, c.file, { reference, criteria: argv.criteria, source: c.path }); } finally { ev.dispose(); }
        };
        evals = [await run(A), await run(B)];
      } finally {
        loaded.model.dispose();
      }
    }
    const c = compareCircuits(source(A, evals?.[0]), source(B, evals?.[1]));
    if (argv.out) { mkdirSync(dirname(resolve(argv.out)), { recursive: true }); writeFileSync(argv.out, JSON.stringify(c, null, 1) + '\n'); }
    if (argv.html) {
      mkdirSync(dirname(resolve(argv.html)), { recursive: true });
      const m = A.file.modelConfig;
      writeFileSync(argv.html, comparisonHtml(c, m.nLayers ? m : null));
    }
    process.stdout.write((argv.json ? JSON.stringify(c, null, 1) : comparisonText(c)) + '\n');
  },
};
