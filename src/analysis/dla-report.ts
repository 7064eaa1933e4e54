/**
 * The report of `circuitscope dla` (direct logit attribution, ./dla.ts): the terminal summary and
 * the self-contained HTML page. Heatmaps colour only comparable quantities on one scale:
 * - the DLA of every head and of the other components (embeddings, MLPs, bias) share one
 *   symmetric scale (all are contributions to the same metric);
 * - the ablate-one-head figure shows changes of the metric from its clean value (the naive
 *   direct-path prediction, the actual run, and their difference, the indirect effect), centred
 *   on 0; the levels themselves and the head's DLA are in the tooltips, not on the colour scale;
 * - the per-head "DLA change with h ablated" panels share one symmetric scale.
 */
import { heatmapSvg, htmlPage, symmetricRange, type HtmlFigure } from '../report/heatmap.js';
import { fmtNum } from '../util/format.js';
import { headName } from './heads.js';

/** What `circuitscope dla` writes as JSON (the fields the report reads). */
export interface DlaReport {
  model: string; task: string; n: number; seed: number; direction: string; metric: number; sum: number; constant: number;
  components: Record<string, number>; heads: number[][]; mlps: number[] | null;
  ablation: null | {
    reference: string;
    heads: { head: string; direct: number; meanDirect: number; naive: number; actual: number; indirect: number; dlaHeads: number[][]; dlaChange: number[][] }[];
  };
}

/** A signed change: "+0.123", "-0.05", "0". */
const signed = (v: number, sig = 3) => { const s = fmtNum(v, sig); return s.startsWith('-') || s === '0' ? s : `+${s}`; };

/** The k largest |changes| of a [layer][head] matrix, without the head `skip`: "a1.h2 +0.123, ...". */
export function largestChanges(change: number[][], skip: string, k = 3): string {
  const cells = change.flatMap((row, l) => row.map((v, h) => ({ name: headName({ layer: l, head: h }), v }))).filter((c) => c.name !== skip);
  return cells.sort((a, b) => Math.abs(b.v) - Math.abs(a.v)).slice(0, k).map((c) => `${c.name} ${signed(c.v)}`).join(', ');
}

/** The terminal summary: metric = components + constant, the largest contributions, the ablations. */
export function dlaSummary(o: DlaReport): string {
  const f = (x: number) => fmtNum(x);
  const lines: string[] = [];
  lines.push(`dla on ${o.model}, task ${o.task} (n=${o.n}, seed ${o.seed}); direction ${o.direction}`);
  lines.push(`metric ${f(o.metric)} = sum of components ${f(o.sum - o.constant)} + constant (LN bias, unembedding bias) ${f(o.constant)}`);
  const comps = Object.entries(o.components).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 10);
  lines.push('largest direct contributions:');
  for (const [c, v] of comps) lines.push(`  ${c.padEnd(10)} ${f(v).padStart(9)}`);
  if (o.ablation) {
    lines.push(`ablate one head (z mean-ablated over ${o.ablation.reference}):`);
    lines.push(`  ${'head'.padEnd(8)} ${'DLA'.padStart(9)} ${'naive'.padStart(9)} ${'actual'.padStart(9)} ${'indirect'.padStart(9)}  largest DLA changes elsewhere`);
    for (const a of o.ablation.heads) {
      lines.push(`  ${a.head.padEnd(8)} ${f(a.direct).padStart(9)} ${f(a.naive).padStart(9)} ${f(a.actual).padStart(9)} ${f(a.indirect).padStart(9)}  ${largestChanges(a.dlaChange, a.head)}`);
    }
    lines.push('  naive = metric - DLA(head) + DLA(mean output), LN scale frozen; indirect = actual - naive');
  }
  return lines.join('\n');
}

/** The self-contained HTML page. */
export function dlaHtml(o: DlaReport, name: string, backend: string): string {
  const L = o.heads.length, H = o.heads[0]?.length ?? 0;
  const rows = Array.from({ length: L }, (_, l) => `L${l}`), cols = Array.from({ length: H }, (_, h) => `H${h}`);
  const figures: HtmlFigure[] = [];
  const other = Object.entries(o.components).filter(([c]) => !/^a\d+\.h\d+$/.test(c));
  const otherRow = [other.map(([, v]) => v)];
  const dlaRange = symmetricRange([o.heads, otherRow]);
  figures.push({
    svg: heatmapSvg({
      values: o.heads, rowLabels: rows, colLabels: cols, title: 'Direct logit attribution per head', subtitle: o.direction,
      yLabel: 'layer', xLabel: 'head', valueLabel: 'logit difference', range: dlaRange,
      tooltip: (i, j, v) => `a${i}.h${j}: ${fmtNum(v)}`,
    }),
    caption: 'Each head\'s output at the answer position, centred and divided by the final LayerNorm scale, projected on the metric direction (mean over prompts). Same colour scale as the next figure.',
  });
  figures.push({
    svg: heatmapSvg({
      values: otherRow, rowLabels: ['DLA'], colLabels: other.map(([c]) => c), title: 'Embeddings, MLPs and output biases',
      valueLabel: 'logit difference', range: dlaRange, tooltip: (_i, j, v) => `${other[j][0]}: ${fmtNum(v)}`,
    }),
  });
  if (o.ablation && o.ablation.heads.length > 0) {
    const ab = o.ablation.heads;
    const clean = o.metric;
    const changes = ab.map((a) => [a.naive - clean, a.actual - clean, a.indirect]);
    const colNames = ['naive − clean', 'actual − clean', 'actual − naive'];
    figures.push({
      svg: heatmapSvg({
        values: changes, rowLabels: ab.map((a) => a.head), colLabels: colNames,
        title: 'Ablate one head: change of the metric', subtitle: `mean ablation over ${o.ablation.reference}; clean metric ${fmtNum(clean)}`,
        valueLabel: 'change in logit difference',
        tooltip: (i, j, v) => {
          const a = ab[i];
          const what = [`naive prediction ${fmtNum(a.naive)}`, `actual ${fmtNum(a.actual)}`, `indirect effect (actual ${fmtNum(a.actual)} − naive ${fmtNum(a.naive)})`][j];
          return `${a.head} ${colNames[j]}: ${fmtNum(v)}; ${what}; clean ${fmtNum(clean)}; DLA of ${a.head} ${fmtNum(a.direct)}, of its mean output ${fmtNum(a.meanDirect)}`;
        },
      }),
      caption: 'Changes of the metric from its clean value, on one scale centred on 0. naive = clean metric - DLA(head) + DLA(its mean output), the direct path only with the LN scale frozen; actual = metric of the run with the head mean-ablated; actual - naive is the indirect effect: large when later heads compensate (backup heads) or amplify. The head\'s own DLA and the levels are in the tooltips.',
    });
    const changeRange = symmetricRange(ab.map((a) => a.dlaChange));
    for (const a of ab) {
      figures.push({
        svg: heatmapSvg({
          values: a.dlaChange, rowLabels: rows, colLabels: cols, title: `DLA change per head with ${a.head} mean-ablated`,
          yLabel: 'layer', xLabel: 'head', valueLabel: 'change in DLA', range: changeRange,
          tooltip: (i, j, v) => `a${i}.h${j}: DLA ${fmtNum(a.dlaHeads[i][j])} (change ${fmtNum(v)})`,
        }),
        caption: `Largest changes besides ${a.head}: ${largestChanges(a.dlaChange, a.head)}. One colour scale for every ablated head.`,
      });
    }
  }
  return htmlPage({
    title: `Direct logit attribution: ${name}, task ${o.task}`,
    intro: [
      `Metric direction: ${o.direction}, at the task's answer positions, mean over ${o.n} prompts (seed ${o.seed}).`,
      'LayerNorm: each component is centred and divided by the final LayerNorm scale of the actual run, as TransformerLens\' apply_ln_to_stack does; with that scale frozen the attributions plus the constant (LN bias and unembedding bias terms) add up to the metric exactly. Reading one attribution as the effect of removing that component is the approximation: the scale would change, and later layers would react.',
    ],
    facts: [['model', name], ['backend', backend], ['task', o.task], ['metric', fmtNum(o.metric, 6)], ['sum of attributions', fmtNum(o.sum - o.constant, 6)], ['constant', fmtNum(o.constant, 6)]],
    figures,
  });
}
