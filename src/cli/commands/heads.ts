/**
 * `circuitscope heads`: induction, duplicate-token and previous-token scores of every head on
 * repeated random tokens (src/analysis/detectors.ts), as JSON, a terminal table of the best
 * heads, and a self-contained HTML page with one layer x head heatmap per score plus the
 * attention pattern of each score's best head on the first sequence.
 *
 * `-n` is the number of sequences (as everywhere, it counts prompts), `--seq-len` the length
 * of each random sequence before it is repeated; `--batch-size` runs the sequences in chunks
 * (bounded memory; the scores are means over all of them either way).
 *
 * JSON: `{ model, backend, n, seqLen, seed, offset, distinct, tokens, scores: { induction,
 * duplicate, previous: [layer][head] }, top: { <score>: [{ name, score }] } }`.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { attentionPatterns, attentionSvg, tokenLabels } from '../../analysis/attention.js';
import {
  DETECTOR_DESCRIPTIONS, DETECTORS, detectHeads, headScoreSvg, repeatedRandomTokens, topHeads,
  type HeadScores, type RepeatedTokens,
} from '../../analysis/detectors.js';
import type { HookedTransformer } from '../../model/transformer.js';
import { htmlPage, type HtmlFigure } from '../../report/heatmap.js';
import { fmtNum } from '../../util/format.js';
import { inputPaths, loadModelFor } from '../context.js';
import { batchSizeOption, numberOption, outputOptions, promptsOption, quietOption, renamed, seedOption, topOption, weightOptions } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';
import { Stages } from '../progress.js';

interface HeadsArgs {
  backend: BackendName;
  model: string;
  n: number;
  seqLen?: number;
  batchSize?: number;
  seed: number;
  top: number;
  prependBos?: boolean;
  out?: string;
  html?: string;
  json: boolean;
  config?: string;
  processing?: string[];
  quiet: boolean;
}

/** Tokens per forward when --batch-size is not given. */
const TOKENS_PER_FORWARD = 8192;

/**
 * detectHeads over chunks of `size` sequences: each chunk's scores are means over its rows, so
 * the weighted mean of the chunks is the mean over every sequence.
 */
async function detectChunked(model: HookedTransformer, rep: RepeatedTokens, size: number, onChunk: (done: number, total: number) => void): Promise<HeadScores> {
  const B = rep.tokens.length;
  let acc: HeadScores | null = null;
  for (let i = 0; i < B; i += size) {
    const part = await detectHeads(model, { ...rep, tokens: rep.tokens.slice(i, i + size) });
    const w = part.batch / B;
    if (!acc) acc = { ...part, batch: B, scores: Object.fromEntries(DETECTORS.map((k) => [k, part.scores[k].map((row) => row.map((v) => v * w))])) as HeadScores['scores'] };
    else for (const k of DETECTORS) part.scores[k].forEach((row, l) => row.forEach((v, h) => { acc!.scores[k][l][h] += v * w; }));
    onChunk(Math.min(B, i + size), B);
  }
  return acc!;
}

export const headsCommand: CommandModule<object, HeadsArgs> = {
  command: 'heads',
  describe: 'Induction, duplicate-token and previous-token scores of every head on repeated random tokens',
  builder: (y: Argv) => renamed(y
    .option('model', { type: 'string', demandOption: true, describe: 'model: directory, file, HF name, shipped model or preset' })
    .options(promptsOption('number of random sequences', 10))
    .option('seq-len', numberOption('seq-len', 'length of each random sequence, repeated once (default 20, capped by the context)', { int: true, min: 2 }))
    .options(batchSizeOption)
    .options(seedOption('seed of the random tokens'))
    .options(topOption('best heads listed per score', 5))
    .option('prepend-bos', { type: 'boolean', describe: 'prepend BOS (default: when the model has one and prepends it by default)' })
    .options(outputOptions('the scores'))
    .options(weightOptions)
    .options(quietOption)
    .example('$0 heads --model ../shared/models/permute_lists -n 10 --seq-len 6 --html heads.html', ''),
  { batch: '-n (the number of sequences; --seq-len is their length)' }) as unknown as Argv<HeadsArgs>,
  handler: async (argv: ArgumentsCamelCase<HeadsArgs>) => {
    checkOutputs('heads', [
      ...(argv.out ? [{ flag: '--out', path: argv.out }] : []),
      ...(argv.html ? [{ flag: '--html', path: argv.html }] : []),
    ], inputPaths(argv));
    const quiet = argv.quiet;
    const stages = new Stages('heads', quiet);
    const { backend, loaded, name } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      return { backend, ...(await loadModelFor('heads', { ...argv, quiet }, null)) };
    });
    const model = loaded.model;
    try {
      const cfg = model.cfg;
      const rep: RepeatedTokens = repeatedRandomTokens(cfg, { n: argv.seqLen, batch: argv.n, seed: argv.seed, prependBos: argv.prependBos });
      const T = rep.offset + 2 * rep.n;
      const chunk = argv.batchSize ?? Math.max(1, Math.floor(TOKENS_PER_FORWARD / T));
      stages.start('scores');
      const s = await detectChunked(model, rep, chunk, (done, total) => stages.progress(done, total, 'sequences'));
      stages.end();
      const top = Object.fromEntries(DETECTORS.map((k) => [k, topHeads(s.scores[k], argv.top).map(({ name: hn, score }) => ({ name: hn, score }))]));
      const out = { model: name, backend, n: s.batch, seqLen: s.n, seed: argv.seed, offset: s.offset, distinct: s.distinct, tokens: rep.tokens, scores: s.scores, top };
      const jsonText = `${JSON.stringify(out)}\n`;
      const files: { path: string; text: string }[] = [];
      if (argv.out) files.push({ path: argv.out, text: jsonText });
      if (argv.html) {
        const figures: HtmlFigure[] = DETECTORS.map((k) => ({
          svg: headScoreSvg(k, s.scores[k]),
          caption: `Best: ${top[k].map((t) => `${t.name} ${fmtNum(t.score, 3)}`).join(', ')}`,
        }));
        // The best head of each score on the first sequence.
        const best = DETECTORS.map((k) => topHeads(s.scores[k], 1)[0]);
        const pats = await stages.run('patterns', () => attentionPatterns(model, rep.tokens[0], best));
        const labels = tokenLabels(pats.strTokens, cfg.tokenizerName !== null);
        pats.heads.forEach((p, i) => figures.push({
          svg: attentionSvg(p, labels, { title: `${p.name}: best ${DETECTORS[i]} head, on sequence 0` }),
          caption: `${DETECTORS[i]} score ${fmtNum(best[i].score)}; ${DETECTOR_DESCRIPTIONS[DETECTORS[i]]}.`,
        }));
        files.push({
          path: argv.html,
          text: htmlPage({
            title: `Head detectors: ${name}`,
            intro: [
              `${s.batch} random sequences of ${s.n} tokens, each repeated once${s.offset ? ' after a BOS' : ''}${s.distinct ? ' (tokens distinct within a sequence)' : ' (drawn with replacement: the vocabulary is smaller than the sequence)'}. ` +
              'Each score is the mean attention weight, over the second-copy tokens and the batch, on one source: the token after the first copy (induction), the first copy (duplicate token), the previous token (previous token). 1 = all attention there.',
              'Hover a cell for its value.',
            ],
            facts: [['model', name], ['backend', backend], ['sequences', s.batch], ['sequence length', s.n], ['seed', argv.seed]],
            figures,
          }),
        });
      }
      const written = writeOutputs(files);
      if (argv.json) process.stdout.write(jsonText);
      else {
        const lines = [`${name}: ${s.batch} sequences of ${s.n} random tokens repeated once${s.offset ? ' after a BOS' : ''}`];
        for (const k of DETECTORS) lines.push(`${k.padEnd(9)}  ${top[k].map((t) => `${t.name} ${fmtNum(t.score, 3)}`).join('  ')}`);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      reportWritten(written, quiet);
    } finally {
      model.dispose();
    }
  },
};
