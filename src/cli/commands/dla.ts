/**
 * `circuitscope dla`: direct logit attribution of every head, MLP and embedding to the task's
 * metric direction at its answer positions, through the final LayerNorm scale as
 * TransformerLens does (src/analysis/dla.ts), and the ablate-one-head experiment (naive
 * direct-path prediction vs actual logit difference after mean-ablating a head, with the DLA of
 * every head in the ablated run to expose backup heads). The summary and the page are
 * src/analysis/dla-report.ts.
 *
 * JSON: `{ model, backend, task, n, seed, direction, metric, sum, constant, components:
 * { <name>: value }, heads: [layer][head], mlps, ablation: { reference, heads: [{ head, direct,
 * meanDirect, naive, actual, indirect, dlaHeads, dlaChange }] } }`.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { ablateHeads, directLogitAttribution, type DlaBatch } from '../../analysis/dla.js';
import { dlaHtml, dlaSummary, type DlaReport } from '../../analysis/dla-report.js';
import { allHeads, parseHeadList, type HeadRef } from '../../analysis/heads.js';
import { buildTaskBatch, inputPaths, loadModelFor, taskFromArgs } from '../context.js';
import { numberOption, oneTask, outputOptions, promptsOption, quietOption, renamed, seedOption, taskOptions, weightOptions } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';
import { Stages } from '../progress.js';

interface DlaArgs {
  backend: BackendName;
  task?: string;
  data?: string;
  model?: string;
  n: number;
  seed: number;
  ablateHeads?: string;
  ablateTop: number;
  maxTokens: number;
  out?: string;
  html?: string;
  json: boolean;
  config?: string;
  processing?: string[];
  quiet: boolean;
}

export const dlaCommand: CommandModule<object, DlaArgs> = {
  command: 'dla',
  describe: 'Direct logit attribution per head and MLP, and the ablate-one-head experiment (naive vs actual)',
  builder: (y: Argv) => renamed(y
    .options(taskOptions)
    .option('model', { type: 'string', describe: 'model (default: the task\'s)' })
    .options(promptsOption('number of prompts', 20))
    .options(seedOption())
    .option('ablate-heads', { type: 'string', describe: 'heads to mean-ablate one at a time: 9.9,9.6 or all' })
    .option('ablate-top', numberOption('ablate-top', 'without --ablate-heads: the heads with the largest |DLA| (0 = no ablations)', { int: true, min: 0 }, { default: 5 }))
    .option('max-tokens', numberOption('max-tokens', 'prompts x positions per forward of the ablation runs (bounds memory; same numbers)', { int: true, min: 1 }, { default: 8192 }))
    .options(outputOptions('the result'))
    .options(weightOptions)
    .options(quietOption)
    .check(oneTask)
    .example('$0 dla --task ioi --model ../shared/fixtures/hf-gpt2-tiny/hf-save --ablate-heads 1.2 --html dla.html', ''),
  { ablate: '--ablate-heads (heads to mean-ablate)' }) as unknown as Argv<DlaArgs>,
  handler: async (argv: ArgumentsCamelCase<DlaArgs>) => {
    checkOutputs('dla', [
      ...(argv.out ? [{ flag: '--out', path: argv.out }] : []),
      ...(argv.html ? [{ flag: '--html', path: argv.html }] : []),
    ], inputPaths(argv));
    const quiet = argv.quiet;
    const stages = new Stages('dla', quiet);
    const { backend, task, loaded, name } = await stages.run('load model', async () => {
      const task = taskFromArgs(argv)!;
      const backend = await initBackend(argv.backend);
      return { backend, task, ...(await loadModelFor('dla', { ...argv, quiet }, task)) };
    });
    const model = loaded.model;
    try {
      const cfg = model.cfg;
      const tb = buildTaskBatch(task, cfg, argv.n, argv.seed);
      const batch: DlaBatch = { tokens: tb.clean, positions: tb.positions, answers: tb.answers, wrong: tb.wrong };
      const clean = await stages.run('attribution', () => directLogitAttribution(model, batch));
      let heads: HeadRef[];
      if (argv.ablateHeads !== undefined) heads = argv.ablateHeads.trim() === 'all' ? allHeads(cfg) : parseHeadList(argv.ablateHeads, cfg, 'dla: --ablate-heads');
      else {
        heads = allHeads(cfg).map((h) => ({ h, v: Math.abs(clean.heads[h.layer][h.head]) })).sort((a, b) => b.v - a.v).slice(0, argv.ablateTop).map((x) => x.h);
      }
      const exp = heads.length > 0
        ? await stages.run(`ablations (${heads.length} head${heads.length === 1 ? '' : 's'})`, () => ablateHeads(model, batch, heads, tb.corrupt, { maxTokens: argv.maxTokens, referenceLabel: `the task's ${tb.corrupt.length} corrupted prompts, mean per position` }))
        : null;
      const out: DlaReport & { backend: string; lnApproximation: string } = {
        model: name, backend, task: task.name, n: tb.clean.length, seed: argv.seed, direction: clean.direction,
        metric: clean.metric, sum: clean.sum, constant: clean.constant,
        lnApproximation: 'each component is centred and divided by the final LayerNorm scale of the actual run (frozen); with the constant the attributions sum to the metric exactly',
        components: Object.fromEntries(clean.components.map((c, i) => [c, clean.values[i]])),
        heads: clean.heads, mlps: clean.mlps,
        ablation: exp && {
          reference: exp.reference,
          heads: exp.ablations.map((a) => ({
            head: a.head, direct: a.direct, meanDirect: a.meanDirect, naive: a.naive, actual: a.actual, indirect: a.indirect,
            dlaHeads: a.dla.heads, dlaChange: a.dla.heads.map((row, l) => row.map((v, h) => v - clean.heads[l][h])),
          })),
        },
      };
      const jsonText = `${JSON.stringify(out)}\n`;
      const files: { path: string; text: string }[] = [];
      if (argv.out) files.push({ path: argv.out, text: jsonText });
      if (argv.html) files.push({ path: argv.html, text: dlaHtml(out, name, backend) });
      const written = writeOutputs(files);
      process.stdout.write(argv.json ? jsonText : `${dlaSummary(out)}\n`);
      reportWritten(written, quiet);
    } finally {
      model.dispose();
    }
  },
};
