/**
 * `circuitscope attention`: attention patterns of chosen heads on one prompt, as a
 * self-contained HTML page (one panel per head, token labels, hover tooltips with destination,
 * source and weight) and as JSON; `--circuit c.json` shows the heads of a circuit file with
 * their circuit edges in the captions.
 *
 * JSON: `{ model, backend, tokens, strTokens, circuit, heads: [{ name, layer, head, pattern }] }`
 * with `pattern[dest][src]` (0 above the diagonal).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { initBackend, type BackendName } from '../../model/backend.js';
import { attentionHtml, attentionPatterns, attentionSummary, tokenLabels } from '../../analysis/attention.js';
import { allHeads, circuitHeads, circuitRole, headName, parseHeadList, type HeadRef } from '../../analysis/heads.js';
import { buildTaskBatch, inputPaths, loadModelFor, onePrompt, readCircuit, taskFromArgs } from '../context.js';
import { numberOption, outputOptions, quietOption, seedOption, weightOptions } from '../options.js';
import { checkOutputs, reportWritten, writeOutputs } from '../output.js';
import { Stages } from '../progress.js';

interface AttentionArgs {
  backend: BackendName;
  model?: string;
  text?: string;
  tokens?: string;
  task?: string;
  data?: string;
  index: number;
  seed: number;
  heads?: string;
  circuit?: string;
  out?: string;
  html?: string;
  json: boolean;
  prependBos?: boolean;
  config?: string;
  processing?: string[];
  quiet: boolean;
}

export const attentionCommand: CommandModule<object, AttentionArgs> = {
  command: 'attention',
  describe: 'Attention patterns of chosen heads (or a circuit\'s heads) on a prompt, as HTML and JSON',
  builder: (y: Argv) => y
    .option('model', { type: 'string', describe: 'model: directory, file, HF name, shipped model or preset (default with --task: the task\'s)' })
    .option('text', { type: 'string', describe: 'the prompt, through the model\'s tokenizer' })
    .option('tokens', { type: 'string', describe: 'the prompt as token ids: 12,7,3 (toy models)' })
    .option('task', { type: 'string', describe: 'take the prompt from a task (see `circuitscope tasks`)' })
    .option('data', { type: 'string', describe: 'take the prompt from a custom task JSON' })
    .option('index', numberOption('index', 'which of the task\'s prompts (from 0)', { int: true, min: 0 }, { default: 0 }))
    .options(seedOption())
    .option('heads', { type: 'string', describe: 'heads: 5.5,6.9 or a5.h5 or 5.* (a whole layer); default all, or the circuit\'s' })
    .option('circuit', { type: 'string', describe: 'a circuit JSON (discover --out, or EAP-IG/MIB): show its heads' })
    .options(outputOptions('the patterns'))
    .option('prepend-bos', { type: 'boolean', describe: 'prepend BOS to --text (default: the model\'s default)' })
    .options(weightOptions)
    .options(quietOption)
    .check((a) => {
      const given = ['text', 'tokens', 'task', 'data'].filter((k) => a[k] !== undefined);
      if (given.length === 0) return 'Give --text "<prompt>", --tokens 12,7,3, or --task <name>.';
      if (given.length > 1) return `Give one of --text, --tokens, --task, --data (got ${given.map((k) => `--${k}`).join(', ')}).`;
      if (!a.model && !a.task && !a.data) return 'Give --model (with --text or --tokens).';
      return true;
    })
    .example('$0 attention --model ../shared/fixtures/hf-gpt2-tiny/hf-save --text "When Mary and John went to the store, John gave a drink to" --heads 1.* --html att.html', '')
    .example('$0 attention --task ioi --model M --circuit circuit.json --html circuit-heads.html', '') as unknown as Argv<AttentionArgs>,
  handler: async (argv: ArgumentsCamelCase<AttentionArgs>) => {
    checkOutputs('attention', [
      ...(argv.out ? [{ flag: '--out', path: argv.out }] : []),
      ...(argv.html ? [{ flag: '--html', path: argv.html }] : []),
    ], inputPaths(argv));
    const quiet = argv.quiet;
    const task = taskFromArgs(argv);
    const stages = new Stages('attention', quiet);
    const { backend, loaded, name } = await stages.run('load model', async () => {
      const backend = await initBackend(argv.backend);
      return { backend, ...(await loadModelFor('attention', { ...argv, quiet }, task)) };
    });
    const model = loaded.model;
    try {
      const cfg = model.cfg;
      const batch = task ? buildTaskBatch(task, cfg, Math.max(2, (argv.index ?? 0) + 1), argv.seed) : null;
      const tokens = onePrompt('attention', cfg, argv, batch);
      const circuit = argv.circuit ? readCircuit(argv.circuit, cfg, 'attention') : null;
      let heads: HeadRef[] = [];
      if (circuit) {
        heads = circuitHeads(circuit.edges, cfg, argv.circuit!);
        if (heads.length === 0 && !argv.heads) throw new Error(`attention: the circuit ${argv.circuit} has no heads in it`);
      }
      if (argv.heads) {
        const extra = parseHeadList(argv.heads, cfg, 'attention: --heads');
        const have = new Set(heads.map(headName));
        heads = [...heads, ...extra.filter((h) => !have.has(headName(h)))];
      }
      if (heads.length === 0) heads = allHeads(cfg);
      const r = await stages.run('patterns', () => attentionPatterns(model, tokens, heads));
      const quoted = cfg.tokenizerName !== null;
      const out = {
        model: name, backend, tokens: r.tokens, strTokens: r.strTokens, circuit: argv.circuit ?? null,
        heads: r.heads.map((h) => ({ name: h.name, layer: h.layer, head: h.head, pattern: h.pattern })),
      };
      const jsonText = `${JSON.stringify(out)}\n`;
      const files: { path: string; text: string }[] = [];
      if (argv.out) files.push({ path: argv.out, text: jsonText });
      if (argv.html) {
        const captions = new Map<string, string>();
        if (circuit) for (const h of heads) captions.set(headName(h), circuitRole(circuit.edges, h));
        files.push({
          path: argv.html,
          text: attentionHtml(r, {
            title: `Attention patterns: ${name}`,
            intro: circuit ? [`Heads of the circuit ${argv.circuit}${circuit.file ? ` (${circuit.file.method} on task ${circuit.file.task})` : ''}; each caption lists the head's edges in the circuit.`] : [],
            facts: [['model', name], ['backend', backend], ['heads', heads.map(headName).join(', ')], ...(task ? [['task prompt', `${task.name}, seed ${argv.seed}, index ${argv.index}`] as [string, string]] : [])],
            captions, quoted,
          }),
        });
      }
      const written = writeOutputs(files);
      if (argv.json) process.stdout.write(jsonText);
      else process.stdout.write(`${tokenLabels(r.strTokens, quoted).join('  ')}\n${attentionSummary(r, quoted)}\n`);
      reportWritten(written, quiet);
    } finally {
      model.dispose();
    }
  },
};
