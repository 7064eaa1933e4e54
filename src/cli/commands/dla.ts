/**
 * `circuitscope dla`: direct logit attribution of every head, MLP and embedding to the task's
 * metric direction at its answer positions, through the final LayerNorm scale as
 * TransformerLens does (src/analysis/dla.ts), and the ablate-one-head experiment (naive
 * direct-path prediction vs actual logit difference after mean-ablating a head, with the DLA of
 * every head in the ablated run to expose backup heads).
 *
 * JSON: `{ model, backend, task, n, seed, direction, metric, sum, constant, components:
 * { <name>: value }, heads: [layer][head], mlps, ablation: { reference, heads: [{ head, direct,
 * meanDirect, naive, actual, indirect, dlaHeads, dlaChange }] } }`.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { ablateHeads, directLogitAttribution, type DlaBatch } from '../../analysis/dla.js';
import { allHeads, headName, parseHeadList, type HeadRef } from '../../analysis/heads.js';
import { heatmapSvg, htmlPage, type HtmlFigure } from '../../report/heatmap.js';
import { buildTaskBatch, loadModelFor, taskFromArgs, writeOutput } from '../context.js';
import { outputOptions, taskOptions, weightOptions } from '../options.js';

interface DlaArgs {
  backend: BackendName;
  task?: string;
  data?: string;
  model?: string;
  n: number;
  seed: number;
  ablate?: string;
  ablateTop: number;
  maxTokens: number;
  out?: string;
  html?: string;
  json: boolean;
  config?: string;
  processing?: string[];
}

const f4 = (x: number) => (x >= 0 ? ' ' : '') + x.toFixed(4);

export const dlaCommand: CommandModule<object, DlaArgs> = {
  command: 'dla',
  describe: 'Direct logit attribution per head and MLP, and the ablate-one-head experiment (naive vs actual)',
  builder: (y: Argv) => y
    .options(taskOptions)
    .option('model', { type: 'string', describe: 'model (default: the task\'s)' })
    .option('n', { type: 'number', default: 20, describe: 'number of prompts' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the task\'s prompt generator' })
    .option('ablate', { type: 'string', describe: 'heads to mean-ablate one at a time: 9.9,9.6 or all' })
    .option('ablate-top', { type: 'number', default: 5, describe: 'without --ablate: the heads with the largest |DLA| (0 = no ablations)' })
    .option('max-tokens', { type: 'number', default: 8192, describe: 'batch x positions per forward of the ablation runs' })
    .options(outputOptions('the result'))
    .options(weightOptions)
    .check((a) => {
      if (!a.task && !a.data) return 'Give --task <name> or --data <file.json>.';
      if (a.task && a.data) return 'Give either --task or --data, not both.';
      if (!(Number.isInteger(a.n) && (a.n as number) > 0)) return `--n must be a positive integer, got ${a.n}.`;
      if (!(Number.isInteger(a.ablateTop) && (a.ablateTop as number) >= 0)) return `--ablate-top must be a non-negative integer, got ${a.ablateTop}.`;
      if (!(Number.isInteger(a.maxTokens) && (a.maxTokens as number) > 0)) return `--max-tokens must be a positive integer, got ${a.maxTokens}.`;
      return true;
    })
    .example('$0 dla --task ioi --model ../shared/fixtures/hf-gpt2-tiny/hf-save --ablate 1.2 --html dla.html', '') as unknown as Argv<DlaArgs>,
  handler: async (argv: ArgumentsCamelCase<DlaArgs>) => {
    const task = taskFromArgs(argv)!;
    const backend = await initBackend(argv.backend);
    const { loaded, name } = await loadModelFor('dla', { ...argv, quiet: argv.json }, task);
    const model = loaded.model;
    try {
      const cfg = model.cfg;
      const tb = buildTaskBatch(task, cfg, argv.n, argv.seed);
      const batch: DlaBatch = { tokens: tb.clean, positions: tb.positions, answers: tb.answers, wrong: tb.wrong };
      const clean = await directLogitAttribution(model, batch);
      let heads: HeadRef[];
      if (argv.ablate !== undefined) heads = argv.ablate.trim() === 'all' ? allHeads(cfg) : parseHeadList(argv.ablate, cfg, 'dla: --ablate');
      else {
        heads = allHeads(cfg).map((h) => ({ h, v: Math.abs(clean.heads[h.layer][h.head]) })).sort((a, b) => b.v - a.v).slice(0, argv.ablateTop).map((x) => x.h);
      }
      const exp = heads.length > 0 ? await ablateHeads(model, batch, heads, tb.corrupt, { maxTokens: argv.maxTokens, referenceLabel: `the task's ${tb.corrupt.length} corrupted prompts, mean per position` }) : null;
      const out = {
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
      const files: string[] = [];
      if (argv.out) { writeOutput(argv.out, jsonText); files.push(argv.out); }
      if (argv.html) { writeOutput(argv.html, dlaHtml(out, name, backend)); files.push(argv.html); }
      if (argv.json) process.stdout.write(jsonText);
      else process.stdout.write(`${dlaSummary(out)}\n`);
      for (const f of files) process.stderr.write(`wrote ${f}\n`);
    } finally {
      model.dispose();
    }
  },
};

type DlaOut = {
  model: string; task: string; n: number; seed: number; direction: string; metric: number; sum: number; constant: number;
  components: Record<string, number>; heads: number[][]; mlps: number[] | null;
  ablation: null | { reference: string; heads: { head: string; direct: number; meanDirect: number; naive: number; actual: number; indirect: number; dlaHeads: number[][]; dlaChange: number[][] }[] };
};

function largestChanges(change: number[][], skip: string, k = 3): string {
  const cells = change.flatMap((row, l) => row.map((v, h) => ({ name: headName({ layer: l, head: h }), v }))).filter((c) => c.name !== skip);
  return cells.sort((a, b) => Math.abs(b.v) - Math.abs(a.v)).slice(0, k).map((c) => `${c.name} ${c.v >= 0 ? '+' : ''}${c.v.toFixed(3)}`).join(', ');
}

export function dlaSummary(o: DlaOut): string {
  const lines: string[] = [];
  lines.push(`dla on ${o.model}, task ${o.task} (n=${o.n}, seed ${o.seed}); direction ${o.direction}`);
  lines.push(`metric ${o.metric.toFixed(4)} = sum of components ${(o.sum - o.constant).toFixed(4)} + constant (LN bias, unembedding bias) ${o.constant.toFixed(4)}`);
  const comps = Object.entries(o.components).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 10);
  lines.push('largest direct contributions:');
  for (const [c, v] of comps) lines.push(`  ${c.padEnd(10)} ${f4(v)}`);
  if (o.ablation) {
    lines.push(`ablate one head (z mean-ablated over ${o.ablation.reference}):`);
    lines.push(`  ${'head'.padEnd(8)} ${'DLA'.padStart(8)} ${'naive'.padStart(8)} ${'actual'.padStart(8)} ${'indirect'.padStart(9)}  largest DLA changes elsewhere`);
    for (const a of o.ablation.heads) {
      lines.push(`  ${a.head.padEnd(8)} ${f4(a.direct).padStart(8)} ${f4(a.naive).padStart(8)} ${f4(a.actual).padStart(8)} ${f4(a.indirect).padStart(9)}  ${largestChanges(a.dlaChange, a.head)}`);
    }
    lines.push('  naive = metric - DLA(head) + DLA(mean output), LN scale frozen; indirect = actual - naive');
  }
  return lines.join('\n');
}

function dlaHtml(o: DlaOut, name: string, backend: string): string {
  const L = o.heads.length, H = o.heads[0]?.length ?? 0;
  const rows = Array.from({ length: L }, (_, l) => `L${l}`), cols = Array.from({ length: H }, (_, h) => `H${h}`);
  const figures: HtmlFigure[] = [];
  figures.push({
    svg: heatmapSvg({
      values: o.heads, rowLabels: rows, colLabels: cols, title: 'Direct logit attribution per head', subtitle: o.direction,
      yLabel: 'layer', xLabel: 'head', valueLabel: 'logit difference',
      tooltip: (i, j, v) => `a${i}.h${j}: ${v === null ? 'n/a' : v.toFixed(4)}`,
    }),
    caption: 'Each head\'s output at the answer position, centred and divided by the final LayerNorm scale, projected on the metric direction (mean over prompts).',
  });
  const other = Object.entries(o.components).filter(([c]) => !/^a\d+\.h\d+$/.test(c));
  figures.push({
    svg: heatmapSvg({
      values: [other.map(([, v]) => v)], rowLabels: ['DLA'], colLabels: other.map(([c]) => c), title: 'Embeddings, MLPs and output biases',
      valueLabel: 'logit difference', tooltip: (_i, j, v) => `${other[j][0]}: ${v === null ? 'n/a' : v.toFixed(4)}`,
    }),
  });
  if (o.ablation && o.ablation.heads.length > 0) {
    const ab = o.ablation.heads;
    const keys = ['direct', 'naive', 'actual', 'indirect'] as const;
    figures.push({
      svg: heatmapSvg({
        values: ab.map((a) => keys.map((k) => a[k])), rowLabels: ab.map((a) => a.head), colLabels: ['DLA', 'naive', 'actual', 'actual - naive'],
        title: 'Ablate one head', subtitle: `mean ablation over ${o.ablation.reference}; clean metric ${o.metric.toFixed(4)}`,
        valueLabel: 'logit difference', tooltip: (i, j, v) => `${ab[i].head} ${['DLA', 'naive prediction', 'actual', 'indirect (actual - naive)'][j]}: ${v === null ? 'n/a' : v.toFixed(4)}`,
      }),
      caption: 'naive = clean metric - DLA(head) + DLA(its mean output), the direct path only with the LN scale frozen; actual = metric of the run with the head mean-ablated. A large actual - naive means later heads compensate (backup heads) or amplify.',
    });
    for (const a of ab) {
      figures.push({
        svg: heatmapSvg({
          values: a.dlaChange, rowLabels: rows, colLabels: cols, title: `DLA change per head with ${a.head} mean-ablated`,
          yLabel: 'layer', xLabel: 'head', valueLabel: 'change in DLA',
          tooltip: (i, j, v) => `a${i}.h${j}: DLA ${a.dlaHeads[i][j].toFixed(4)} (change ${v === null ? 'n/a' : v.toFixed(4)})`,
        }),
        caption: `Largest changes besides ${a.head}: ${largestChanges(a.dlaChange, a.head)}.`,
      });
    }
  }
  return htmlPage({
    title: `Direct logit attribution: ${name}, task ${o.task}`,
    intro: [
      `Metric direction: ${o.direction}, at the task's answer positions, mean over ${o.n} prompts (seed ${o.seed}).`,
      'LayerNorm: each component is centred and divided by the final LayerNorm scale of the actual run, as TransformerLens\' apply_ln_to_stack does; with that scale frozen the attributions plus the constant (LN bias and unembedding bias terms) add up to the metric exactly. Reading one attribution as the effect of removing that component is the approximation: the scale would change, and later layers would react.',
    ],
    facts: [['model', name], ['backend', backend], ['task', o.task], ['metric', o.metric.toFixed(6)], ['sum of attributions', (o.sum - o.constant).toFixed(6)], ['constant', o.constant.toFixed(6)]],
    figures,
  });
}
