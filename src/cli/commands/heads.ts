/**
 * `circuitscope heads`: induction, duplicate-token and previous-token scores of every head on
 * repeated random tokens (src/analysis/detectors.ts), as JSON, a terminal table of the best
 * heads, and a self-contained HTML page with one layer x head heatmap per score plus the
 * attention pattern of each score's best head on the first sequence.
 *
 * JSON: `{ model, backend, n, batch, seed, offset, distinct, tokens, scores: { induction,
 * duplicate, previous: [layer][head] }, top: { <score>: [{ name, score }] } }`.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { attentionPatterns, attentionSvg, tokenLabels } from '../../analysis/attention.js';
import { DETECTOR_DESCRIPTIONS, DETECTORS, detectHeads, repeatedRandomTokens, topHeads } from '../../analysis/detectors.js';
import { heatmapSvg, htmlPage, type HtmlFigure } from '../../report/heatmap.js';
import { loadModelFor, writeOutput } from '../context.js';
import { outputOptions, weightOptions } from '../options.js';

interface HeadsArgs {
  backend: BackendName;
  model: string;
  n?: number;
  batch: number;
  seed: number;
  top: number;
  prependBos?: boolean;
  out?: string;
  html?: string;
  json: boolean;
  config?: string;
  processing?: string[];
}

export const headsCommand: CommandModule<object, HeadsArgs> = {
  command: 'heads',
  describe: 'Induction, duplicate-token and previous-token scores of every head on repeated random tokens',
  builder: (y: Argv) => y
    .option('model', { type: 'string', demandOption: true, describe: 'model: directory, file, HF name, shipped model or preset' })
    .option('n', { type: 'number', describe: 'length of the random sequence, repeated once (default 20, capped by the context)' })
    .option('batch', { type: 'number', default: 10, describe: 'number of sequences' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the random tokens' })
    .option('top', { type: 'number', default: 5, describe: 'best heads listed per score' })
    .option('prepend-bos', { type: 'boolean', describe: 'prepend BOS (default: when the model has one and prepends it by default)' })
    .options(outputOptions('the scores'))
    .options(weightOptions)
    .check((a) => {
      if (a.n !== undefined && !(Number.isInteger(a.n) && (a.n as number) >= 2)) return `--n must be an integer >= 2, got ${a.n}.`;
      if (!(Number.isInteger(a.batch) && (a.batch as number) >= 1)) return `--batch must be a positive integer, got ${a.batch}.`;
      if (!(Number.isInteger(a.top) && (a.top as number) >= 1)) return `--top must be a positive integer, got ${a.top}.`;
      return true;
    })
    .example('$0 heads --model ../shared/models/permute_lists --html heads.html', '') as unknown as Argv<HeadsArgs>,
  handler: async (argv: ArgumentsCamelCase<HeadsArgs>) => {
    const backend = await initBackend(argv.backend);
    const { loaded, name } = await loadModelFor('heads', { ...argv, quiet: argv.json }, null);
    const model = loaded.model;
    try {
      const cfg = model.cfg;
      const rep = repeatedRandomTokens(cfg, { n: argv.n, batch: argv.batch, seed: argv.seed, prependBos: argv.prependBos });
      const s = await detectHeads(model, rep);
      const top = Object.fromEntries(DETECTORS.map((k) => [k, topHeads(s.scores[k], argv.top).map(({ name: hn, score }) => ({ name: hn, score }))]));
      const out = { model: name, backend, n: s.n, batch: s.batch, seed: argv.seed, offset: s.offset, distinct: s.distinct, tokens: rep.tokens, scores: s.scores, top };
      const jsonText = `${JSON.stringify(out)}\n`;
      const files: string[] = [];
      if (argv.out) { writeOutput(argv.out, jsonText); files.push(argv.out); }
      if (argv.html) {
        const layers = Array.from({ length: cfg.nLayers }, (_, l) => `L${l}`), heads = Array.from({ length: cfg.nHeads }, (_, h) => `H${h}`);
        const figures: HtmlFigure[] = DETECTORS.map((k) => ({
          svg: heatmapSvg({
            values: s.scores[k], rowLabels: layers, colLabels: heads, title: `${k} score`, subtitle: DETECTOR_DESCRIPTIONS[k],
            yLabel: 'layer', xLabel: 'head', center: 0, range: 1, valueLabel: 'mean attention',
            tooltip: (i, j, v) => `a${i}.h${j} ${k} score: ${v === null ? 'n/a' : v.toFixed(4)}`,
          }),
          caption: `Best: ${top[k].map((t) => `${t.name} ${t.score.toFixed(3)}`).join(', ')}`,
        }));
        // The best head of each score on the first sequence.
        const best = DETECTORS.map((k) => topHeads(s.scores[k], 1)[0]);
        const pats = await attentionPatterns(model, rep.tokens[0], best);
        const labels = tokenLabels(pats.strTokens, cfg.tokenizerName !== null);
        pats.heads.forEach((p, i) => figures.push({
          svg: attentionSvg(p, labels, { title: `${p.name}: best ${DETECTORS[i]} head, on sequence 0` }),
          caption: `${DETECTORS[i]} score ${best[i].score.toFixed(4)}; ${DETECTOR_DESCRIPTIONS[DETECTORS[i]]}.`,
        }));
        writeOutput(argv.html, htmlPage({
          title: `Head detectors: ${name}`,
          intro: [
            `${s.batch} random sequences of ${s.n} tokens, each repeated once${s.offset ? ' after a BOS' : ''}${s.distinct ? ' (tokens distinct within a sequence)' : ' (drawn with replacement: the vocabulary is smaller than the sequence)'}. ` +
            'Each score is the mean attention weight, over the second-copy tokens and the batch, on one source: the token after the first copy (induction), the first copy (duplicate token), the previous token (previous token). 1 = all attention there.',
            'Hover a cell for its value.',
          ],
          facts: [['model', name], ['backend', backend], ['sequence length', s.n], ['sequences', s.batch], ['seed', argv.seed]],
          figures,
        }));
        files.push(argv.html);
      }
      if (argv.json) process.stdout.write(jsonText);
      else {
        const lines = [`${name}: ${s.batch} sequences of ${s.n} random tokens repeated once${s.offset ? ' after a BOS' : ''}`];
        for (const k of DETECTORS) lines.push(`${k.padEnd(9)}  ${top[k].map((t) => `${t.name} ${t.score.toFixed(3)}`).join('  ')}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      for (const f of files) process.stderr.write(`wrote ${f}\n`);
    } finally {
      model.dispose();
    }
  },
};
