/**
 * `circuitscope logits`: the model's next-token prediction at the last position of one
 * prompt. `--text` goes through the model's tokenizer (BOS prepended unless
 * `--no-prepend-bos`); `--tokens 12,7,3` feeds integer ids as they are (toy models).
 *
 * `--json` prints exactly `{ "model", "backend", "tokens": [ids], "top": [{ "id", "token",
 * "logit", "prob" }] }`, prob being the softmax over the whole output vocabulary (computed
 * on the host in float64 from the float32 logits).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, tf, type BackendName } from '../../model/backend.js';
import type { ModelConfig } from '../../model/config.js';
import { loadModel } from '../../model/load-model.js';
import { tokenizerFor, type Tokenizer } from '../../model/tokenizer.js';
import { nextTokenTop, tokenString, type TopToken } from '../../model/next-token.js';
import { fmtNum } from '../../util/format.js';
import { quietOption, seedOption, topOption, weightOptions } from '../options.js';
import { Stages } from '../progress.js';

export type { TopToken };

export interface LogitsResult {
  model: string;
  backend: string;
  tokens: number[];
  top: TopToken[];
}

interface LogitsArgs {
  backend: BackendName;
  model: string;
  text?: string;
  tokens?: string;
  prependBos?: boolean;
  top: number;
  json: boolean;
  config?: string;
  processing?: string[];
  seed: number;
  quiet: boolean;
}

/** Parse "12,7,3" (commas and/or spaces) into ids checked against the model's vocabulary. */
export function parseTokenList(text: string, cfg: ModelConfig): number[] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  if (parts.length === 0) throw new Error(`logits: --tokens '${text}' holds no token ids (expected e.g. 12,7,3)`);
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new Error(`logits: --tokens: '${p}' is not a non-negative integer token id (expected e.g. 12,7,3)`);
    const id = Number(p);
    if (id >= cfg.dVocab) throw new Error(`logits: --tokens: token id ${id} is outside the model's vocabulary [0, ${cfg.dVocab})`);
    return id;
  });
}

/** The prompt's token ids, validated against the model (vocabulary, context length). */
export function promptTokens(cfg: ModelConfig, modelName: string, input: { text?: string; tokens?: string; prependBos?: boolean }): number[] {
  let ids: number[];
  if (input.tokens !== undefined) {
    ids = parseTokenList(input.tokens, cfg);
  } else if (input.text !== undefined) {
    if (cfg.tokenizerName === null) {
      throw new Error(`logits: model '${modelName}' has no tokenizer (its token ids are plain integers): pass --tokens 12,7,3 instead of --text`);
    }
    ids = tokenizerFor(cfg).toTokens(input.text, { prependBos: input.prependBos ?? cfg.defaultPrependBos });
    if (ids.length === 0) throw new Error('logits: --text is empty (and no BOS was prepended)');
  } else {
    throw new Error('logits: give --text "<prompt>" or --tokens 12,7,3');
  }
  if (ids.length > cfg.nCtx) throw new Error(`logits: the prompt is ${ids.length} tokens, longer than the model's context nCtx=${cfg.nCtx}`);
  return ids;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function formatTable(r: LogitsResult, strTokens: string[]): string {
  const lines: string[] = [];
  lines.push(`model    ${r.model}`);
  lines.push(`backend  ${r.backend}`);
  lines.push(`tokens   ${r.tokens.length}: ${strTokens.map((s) => JSON.stringify(s)).join(' ')}`);
  lines.push('');
  const rows = r.top.map((t, i) => [String(i + 1), String(t.id), JSON.stringify(t.token), fmtNum(t.logit), fmtNum(t.prob)]);
  const head = ['rank', 'id', 'token', 'logit', 'prob'];
  const w = head.map((h, j) => Math.max(h.length, ...rows.map((row) => row[j].length)));
  const right = [true, true, false, true, true];
  const fmt = (cells: string[]) => cells.map((c, j) => pad(c, w[j], right[j])).join('  ').trimEnd();
  lines.push(fmt(head));
  for (const row of rows) lines.push(fmt(row));
  return lines.join('\n');
}

export const logitsCommand: CommandModule<object, LogitsArgs> = {
  command: 'logits',
  describe: 'Print the next-token prediction at the last position of a prompt',
  builder: (y: Argv) =>
    y
      .option('model', {
        type: 'string',
        demandOption: true,
        describe: 'a checkpoint directory or file, a Hugging Face cache name (gpt2), a shipped model, or a preset (random weights)',
      })
      .option('text', { type: 'string', describe: 'the prompt, tokenised by the model\'s tokenizer' })
      .option('tokens', { type: 'string', describe: 'token ids as they are, comma separated: 12,7,3 (no BOS added)' })
      .option('prepend-bos', { type: 'boolean', describe: 'prepend BOS to --text (default: the model\'s default, on for GPT-2); --no-prepend-bos turns it off' })
      .options(topOption('how many candidates to show', 10))
      .option('json', { type: 'boolean', default: false, describe: 'print {model, backend, tokens, top} as JSON' })
      .options(weightOptions)
      .options(seedOption('seed of the random weights of a preset'))
      .options(quietOption)
      .conflicts('text', 'tokens')
      .check((a) => {
        if (a.text === undefined && a.tokens === undefined) return 'Give --text "<prompt>" or --tokens 12,7,3.';
        return true;
      })
      .example('$0 logits --model gpt2 --text "When Mary and John went to the store, John gave a drink to"', '')
      .example('$0 logits --model ./toy-model --tokens 17,42,200 --json', '') as unknown as Argv<LogitsArgs>,
  handler: async (argv: ArgumentsCamelCase<LogitsArgs>) => {
    const stages = new Stages('logits', argv.quiet);
    const { backend, model } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      return { backend, ...(await loadModel(argv.model, { config: argv.config, processing: argv.processing, seed: argv.seed, quiet: argv.quiet })) };
    });
    try {
      const cfg = model.cfg;
      const tokens = promptTokens(cfg, argv.model, argv);
      const tokenizer = tokenizerFor(cfg);
      const top = await nextTokenTop(model, tokens, argv.top, tokenizer);
      const result: LogitsResult = { model: argv.model, backend, tokens, top };
      if (argv.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        const strTokens = tokens.map((id) => tokenString(tokenizer, id));
        process.stdout.write(`${formatTable(result, strTokens)}\n`);
      }
    } finally {
      model.dispose();
    }
  },
};
